"""The evaluation's parameters (codetune.tuning.parameters): each checked and named like every
other, the inference prices the deployment's alone, and the list prices under its own."""

from __future__ import annotations

import pytest

import codetune.evaluation.cost as cost
from codetune.evaluation.cost import InferencePrice, prices_in_force
from codetune.tuning.parameters import resolve


def test_the_evaluation_parameters_are_checked_and_named() -> None:
    p, problems = resolve(
        [
            (
                "manifest",
                {
                    "evaluation_examples": "0",
                    "evaluation_max_output_tokens": "65536",
                    "evaluation_temperature": "2",
                    "language": "TS",
                },
            )
        ]
    )
    assert problems == []
    assert (p.evaluation_examples, p.evaluation_max_output_tokens) == (0, 65_536)
    assert (p.evaluation_temperature, p.language) == (2.0, "typescript")
    _, problems = resolve(
        [
            (
                "manifest",
                {
                    "evaluation_examples": "-1",
                    "evaluation_max_output_tokens": "65537",
                    "evaluation_temperature": "2.5",
                    "language": "haskell",
                },
            )
        ]
    )
    assert [(p.parameter, p.rule) for p in problems] == [
        ("evaluation_examples", "range"),
        ("evaluation_max_output_tokens", "range"),
        ("evaluation_temperature", "range"),
        ("language", "type"),
    ]
    assert "python, javascript" in problems[3].message
    # Prices are the deployment's: a dataset cannot set them.
    _, problems = resolve([("manifest", {"inference_prices": "gemini-3.5-flash=0/0"})])
    assert [(p.parameter, p.rule) for p in problems] == [("inference_prices", "deployment-only")]
    deployment, problems = resolve([("deployment", {"inference_prices": "m=1/2"})])
    assert problems == [] and deployment.inference_prices is not None
    assert deployment.inference_prices["m"].output_per_million == 2.0


def test_the_deployments_price_is_over_any_list_price(monkeypatch: pytest.MonkeyPatch) -> None:
    assert prices_in_force(None) == {}  # no list price shipped: every price is the deployment's
    row = cost.ListPrice("m", 1.0, 2.0, cost.TUNED_RATES[0].read, "pricing")
    monkeypatch.setattr(cost, "LIST_PRICES", (row,))
    listed = prices_in_force(None)["m"]
    assert (listed.input_per_million, listed.basis) == (1.0, "list price, read 2026-09-27")
    own = InferencePrice(0.5, 0.5, "the deployment's price")
    assert prices_in_force({"m": own}) == {"m": own}
