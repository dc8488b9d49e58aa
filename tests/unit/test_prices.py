"""Prices: Google's list prices by model, the deployment's own over them, and a cost that says
which it is (codetune.tuning.prices, codetune.tuning.budget)."""

from __future__ import annotations

import re
from pathlib import Path

from codetune.state.records import Tokens
from codetune.tuning import budget
from codetune.tuning.parameters import resolve
from codetune.tuning.prices import BY_MODEL, markdown_table, price_for

DOCS = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"


def test_the_deployments_price_wins_then_its_one_price_then_the_list_price() -> None:
    assert price_for("gemini-3.5-flash", {}, None).usd_per_million == 10.0
    assert price_for("gemini-3.5-flash", {}, None).basis == "list price, read 2026-09-27"
    assert price_for("gemini-3.5-flash", {}, 4.0).usd_per_million == 4.0
    chosen = price_for("gemini-3.5-flash", {"gemini-3.5-flash": 8.5}, 4.0)
    assert (chosen.usd_per_million, chosen.basis) == (8.5, "the deployment's price")
    unknown = price_for("gemini-3.5-flash-lite", {"gemini-3.5-flash": 8.5}, None)
    assert not unknown.known and unknown.basis == "no known price"


def test_a_cost_without_a_price_says_cost_unknown_and_a_cost_budget_refuses() -> None:
    p, problems = resolve([("deployment", {"max_cost": "10"})])
    assert problems == []
    tokens = Tokens(1000, "estimate: characters / 4", False)
    spend = budget.estimate(tokens, 3, "gemini-3.5-flash-lite", p)
    assert spend.cost is None and "cost unknown: no price for gemini-3.5-flash-lite" in (
        spend.describe()
    )
    [problem] = budget.problems(spend, p)
    assert problem.rule == "budget" and "gemini-3.5-flash-lite" in problem.message
    listed = budget.estimate(tokens, 3, "gemini-3.5-flash", p)
    assert listed.cost == 0.03 and "(list price, read 2026-09-27)" in listed.describe()
    assert budget.problems(listed, p) == []


def test_training_prices_are_read_as_model_price_pairs() -> None:
    p, problems = resolve([("deployment", {"training_prices": "gemini-3.5-flash=7.5, x=1"})])
    assert problems == [] and p.training_prices == {"gemini-3.5-flash": 7.5, "x": 1.0}
    _, problems = resolve([("deployment", {"training_prices": "gemini-3.5-flash"})])
    assert [(q.parameter, q.rule) for q in problems] == [("training_prices", "type")]
    _, problems = resolve([("manifest", {"training_prices": "gemini-3.5-flash=0.01"})])
    assert [(q.parameter, q.rule) for q in problems] == [("training_prices", "deployment-only")]


def test_every_tunable_model_with_a_price_is_a_model_of_the_table() -> None:
    from codetune.gemini.models import GEMINI_MODELS

    assert set(BY_MODEL) <= set(GEMINI_MODELS)


def test_the_documentation_shows_the_price_table() -> None:
    shown = re.search(r"<!-- prices:start -->\n(.*?)<!-- prices:end -->", DOCS.read_text(), re.S)
    assert shown is not None
    assert shown.group(1) == markdown_table(), "run: python -m codetune.tuning.prices"
