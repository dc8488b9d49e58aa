"""What evaluating costs: every evaluation prompt answered once by the base model and once by
the tuned model's endpoint, at the deployment's inference prices.

Google bills inference per 1M input and per 1M output tokens. Its list prices for inference
were not read where this was written, so they are the deployment's to set
(`model=INPUT/OUTPUT,...`, USD per 1M tokens: `parse_prices`); a model without one has no known
cost. A tuned model's endpoint bills its base model's price times the row of TUNED_RATES that
covers it, unless the deployment sets the tuned price too.

Never undercounted: each prompt's tokens are the project's estimate, rounded up
(codetune.dataset.rules.estimate_tokens over each part: system instruction, context, every
turn), every answer is counted at the whole output allowance (the request's maxOutputTokens;
thinking tokens bill as output), and each cost is rounded up to the cent.

Source [pricing]: Google's Vertex AI pricing page (see codetune.tuning.prices), "Starting from
Gemini 3, tuned model endpoint prediction price will be 1.5 times of the base model"; no
hosting fee.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_CEILING, Decimal

import msgspec

from codetune.dataset.rules import estimate_tokens, token_weight


class InferencePrice(msgspec.Struct, frozen=True):
    """USD per 1M tokens in and out, and what the price is."""

    input_per_million: float
    output_per_million: float
    basis: str  # "the deployment's price", "the deployment's price x 1.5 (tuned, pricing)"


class TunedRate(msgspec.Struct, frozen=True):
    """What a tuned endpoint bills, as a multiple of its base model's price."""

    first_generation: int  # Gemini models from this generation on (gemini-3.x: 3)
    multiplier: float
    read: date
    source: str


TUNED_RATES: tuple[TunedRate, ...] = (TunedRate(3, 1.5, date(2026, 9, 27), "pricing"),)


class ListPrice(msgspec.Struct, frozen=True):
    """Google's inference list price of a base model, read on a day from a source."""

    model: str
    input_per_million: float
    output_per_million: float
    read: date
    source: str


# Google's inference list prices. None could be read where this was written (the pricing page
# would not open, and no copy of it gave inference prices that agree): the deployment sets them
# (CODETUNE_INFERENCE_PRICES); a row added here must name its day and source.
LIST_PRICES: tuple[ListPrice, ...] = ()


def prices_in_force(deployment: Mapping[str, InferencePrice] | None) -> dict[str, InferencePrice]:
    """The list prices, each under the deployment's own for its model."""
    listed = {
        row.model: InferencePrice(
            row.input_per_million, row.output_per_million, f"list price, read {row.read}"
        )
        for row in LIST_PRICES
    }
    return {**listed, **(deployment or {})}


_GENERATION = re.compile(r"gemini-(\d+)(?:\.\d+)?-")


def tuned_rate(model: str) -> TunedRate | None:
    """The row that covers a base model's tuned endpoints; None: not read."""
    found = _GENERATION.match(model)
    if found is None:
        return None
    rows = [r for r in TUNED_RATES if int(found[1]) >= r.first_generation]
    return max(rows, key=lambda r: r.first_generation, default=None)


def parse_prices(text: str) -> dict[str, InferencePrice]:
    """`model=INPUT/OUTPUT,...` (USD per 1M input / output tokens), the deployment's prices."""
    prices = {}
    for item in filter(str.strip, text.split(",")):
        model, equals, pair = item.partition("=")
        given, slash, taken = pair.partition("/")
        if not equals or not slash or not model.strip():
            raise ValueError(f"{item.strip()!r}: expected model=INPUT/OUTPUT, USD per 1M tokens")
        prices[model.strip()] = InferencePrice(
            _price(given), _price(taken), "the deployment's price"
        )
    return prices


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r}: expected a price in USD per 1M tokens") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text.strip()!r}: expected a price of 0 or more")
    return value


def prices_for(
    model: str,
    prices: Mapping[str, InferencePrice],
    tuned_prices: Mapping[str, InferencePrice] | None = None,
) -> tuple[InferencePrice | None, InferencePrice | None]:
    """The base model's price and its tuned endpoint's: the deployment's, or the base price
    times the model's tuned rate; None where neither is known."""
    base = prices.get(model)
    tuned = (tuned_prices or {}).get(model)
    rate = tuned_rate(model)
    if tuned is None and base is not None and rate is not None:
        tuned = InferencePrice(
            _times(base.input_per_million, rate.multiplier),
            _times(base.output_per_million, rate.multiplier),
            f"{base.basis} x {rate.multiplier:g} (tuned endpoint, {rate.source} {rate.read})",
        )
    return base, tuned


def _times(price: float, multiplier: float) -> float:
    return float(Decimal(str(price)) * Decimal(str(multiplier)))  # 0.3 x 1.5 is 0.45


def prompt_tokens(parts: Iterable[str]) -> int:
    """One prompt's estimated tokens: each part (system instruction, context, every turn
    before the reference) estimated and rounded up on its own."""
    return sum(estimate_tokens(token_weight(part)) for part in parts)


class EvaluationCost(msgspec.Struct, frozen=True):
    """Tokens and cost of answering the evaluation examples on each model (the same prompts
    and allowance go to both); a cost is None where its price is not known."""

    model: str
    examples: int
    input_tokens: int  # per model
    output_tokens: int  # per model: examples x the output allowance
    base_price: InferencePrice | None
    tuned_price: InferencePrice | None
    base_cost: float | None
    tuned_cost: float | None

    @property
    def tokens(self) -> int:
        """Every token billed, both models."""
        return 2 * (self.input_tokens + self.output_tokens)

    @property
    def cost(self) -> float | None:
        if self.base_cost is None or self.tuned_cost is None:
            return None
        return _cents(Decimal(str(self.base_cost)) + Decimal(str(self.tuned_cost)))

    def describe(self) -> str:
        """One line for people: what the evaluation sends and costs."""
        examples = f"{self.examples:,} example{'' if self.examples == 1 else 's'}"
        text = (
            f"evaluation: {examples} x 2 models, ~{self.input_tokens:,} input and at most "
            f"{self.output_tokens:,} output tokens each"
        )
        if self.base_price is None:
            return text + f", cost unknown: no inference price for {self.model}"
        if self.tuned_price is None:
            return text + f", cost unknown: no price for a tuned {self.model} endpoint"
        return (
            f"{text}, at most ${self.cost:,.2f} (base ${self.base_cost:,.2f}, tuned "
            f"${self.tuned_cost:,.2f})"
        )


def estimate(
    model: str,
    prompts: Iterable[int],
    max_output_tokens: int,
    prices: Mapping[str, InferencePrice],
    tuned_prices: Mapping[str, InferencePrice] | None = None,
    context_tokens: int = 0,
) -> EvaluationCost:
    """The cost of evaluating these prompts (each one's estimated tokens) on the base model
    and its tuned endpoint; `context_tokens` are added to every prompt (a default_context)."""
    if max_output_tokens < 1:
        raise ValueError("the output allowance is at least 1 token")
    counted = list(prompts)
    examples = len(counted)
    input_tokens = sum(counted) + examples * context_tokens
    output_tokens = examples * max_output_tokens
    base, tuned = prices_for(model, prices, tuned_prices)
    return EvaluationCost(
        model,
        examples,
        input_tokens,
        output_tokens,
        base,
        tuned,
        _cost(input_tokens, output_tokens, base),
        _cost(input_tokens, output_tokens, tuned),
    )


def _cost(input_tokens: int, output_tokens: int, price: InferencePrice | None) -> float | None:
    if price is None:
        return None
    usd = (
        input_tokens * Decimal(str(price.input_per_million))
        + output_tokens * Decimal(str(price.output_per_million))
    ) / 1_000_000
    return _cents(usd)


def _cents(usd: Decimal) -> float:
    """Rounded up to the cent, never down."""
    return float(usd.quantize(Decimal("0.01"), rounding=ROUND_CEILING))
