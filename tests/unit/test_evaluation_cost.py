"""What evaluating costs (codetune.evaluation.cost): the prompts' estimated tokens rounded up,
the whole output allowance per answer, both models, the tuned endpoint at 1.5x its base price
from Gemini 3 on, each cost rounded up to the cent and never below tokens x price."""

from __future__ import annotations

import random
from fractions import Fraction as F

import pytest

from codetune.dataset.rules import estimate_tokens, token_weight
from codetune.evaluation.cost import (
    InferencePrice,
    estimate,
    parse_prices,
    prices_for,
    prompt_tokens,
    tuned_rate,
)

PRICES = parse_prices("gemini-3.5-flash=0.30/2.50, gemini-2.5-flash=0.15/0.60")


def test_the_deployments_prices_parse_and_bad_ones_say_what_was_expected() -> None:
    assert PRICES["gemini-3.5-flash"] == InferencePrice(0.30, 2.50, "the deployment's price")
    assert parse_prices("") == {}
    for bad in ("gemini-3.5-flash=0.3", "=1/2", "gemini-3.5-flash=a/2", "m=-1/2", "m=1/nan"):
        with pytest.raises(ValueError, match="expected"):
            parse_prices(bad)


def test_a_tuned_gemini_3_endpoint_bills_one_and_a_half_times_its_base() -> None:
    base, tuned = prices_for("gemini-3.5-flash", PRICES)
    assert base is not None and tuned is not None
    assert (tuned.input_per_million, tuned.output_per_million) == (0.45, 3.75)
    assert "x 1.5 (tuned endpoint, pricing 2026-09-27)" in tuned.basis
    assert tuned_rate("gemini-3.1-flash-lite") is not None
    assert tuned_rate("gemini-4-pro") is not None  # from Gemini 3 on
    # Not read for 2.x: no tuned price unless the deployment sets one.
    assert tuned_rate("gemini-2.5-flash") is None
    assert prices_for("gemini-2.5-flash", PRICES)[1] is None
    own = {"gemini-2.5-flash": InferencePrice(1.0, 2.0, "the deployment's price")}
    assert prices_for("gemini-2.5-flash", PRICES, own)[1] == own["gemini-2.5-flash"]


def test_a_prompts_tokens_round_up_part_by_part_and_count_every_part() -> None:
    parts = ["You write Python.", "a" * 9, "é"]
    assert prompt_tokens(parts) == 5 + 3 + 2  # 17/4, 9/4 rounded up; "é": 2 bytes x 4 / 4
    assert prompt_tokens(parts) == sum(estimate_tokens(token_weight(p)) for p in parts)
    assert prompt_tokens(parts) >= estimate_tokens(sum(map(token_weight, parts)))


def test_the_cost_counts_both_models_every_allowance_and_the_context() -> None:
    cost = estimate("gemini-3.5-flash", [100, 200, 300], 1_024, PRICES, context_tokens=10)
    assert (cost.examples, cost.input_tokens, cost.output_tokens) == (3, 630, 3_072)
    assert cost.tokens == 2 * (630 + 3_072)
    # base: 630 x 0.30 + 3072 x 2.50 = 7,869 micro-USD -> $0.01; tuned 11,803.5 -> $0.02
    assert (cost.base_cost, cost.tuned_cost, cost.cost) == (0.01, 0.02, 0.03)
    assert cost.describe() == (
        "evaluation: 3 examples x 2 models, ~630 input and at most 3,072 output tokens each, "
        "at most $0.03 (base $0.01, tuned $0.02)"
    )
    with pytest.raises(ValueError):
        estimate("gemini-3.5-flash", [1], 0, PRICES)


def test_the_cost_is_never_below_the_tokens_times_the_price() -> None:
    rng = random.Random(11)
    for _ in range(300):
        prompts = [rng.randint(1, 50_000) for _ in range(rng.randint(1, 60))]
        allowance, context = rng.randint(1, 8_192), rng.randint(0, 2_000)
        given = rng.choice([0.0, 0.075, 0.1, 0.3, 1.25, 2.0, 3.33])
        taken = rng.choice([0.3, 0.4, 2.5, 10.0, 12.0, 0.07])
        prices = {"gemini-3.5-flash": InferencePrice(given, taken, "the deployment's price")}
        cost = estimate("gemini-3.5-flash", prompts, allowance, prices, context_tokens=context)
        input_tokens = sum(prompts) + len(prompts) * context
        output_tokens = len(prompts) * allowance
        exact = (input_tokens * F(str(given)) + output_tokens * F(str(taken))) / 1_000_000
        assert cost.base_cost is not None and cost.tuned_cost is not None
        base, tuned = F(str(cost.base_cost)), F(str(cost.tuned_cost))  # the cents, exactly
        assert exact <= base < exact + F(1, 100)
        assert exact * F(3, 2) <= tuned < exact * F(3, 2) + F(1, 100)
        assert cost.cost is not None and F(str(cost.cost)) == base + tuned


def test_without_a_price_the_cost_is_unknown_and_says_why() -> None:
    unknown = estimate("gemini-3.5-flash-lite", [10], 100, PRICES)
    assert unknown.cost is None and unknown.base_cost is None and unknown.tokens == 220
    assert unknown.describe().endswith("cost unknown: no inference price for gemini-3.5-flash-lite")
    no_tuned = estimate("gemini-2.5-flash", [10], 100, PRICES)
    assert no_tuned.base_cost == 0.01 and no_tuned.tuned_cost is None and no_tuned.cost is None
    assert no_tuned.describe().startswith("evaluation: 1 example x 2 models")
    assert no_tuned.describe().endswith("no price for a tuned gemini-2.5-flash endpoint")
