"""What a job will cost, and the deployment's budget (rule `budget`), before the job exists.

Training tokens are the tokens of what trains times the epochs the plan derives (Google bills
tuning per training token); the cost is those at the model's price (codetune.tuning.prices: the
deployment's, else Google's list price), labelled with what that price is. A model with no
known price says "cost unknown", and a cost budget then refuses it.

A job planned with an evaluation (codetune.evaluation.planner) has its cost counted with the
training's: `max_cost` holds both, and refuses a job whose evaluation's cost is unknown (no
inference price for its model) rather than let an uncounted cost through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from codetune.dataset.rules import estimate_tokens, token_weight
from codetune.evaluation.cost import EvaluationCost
from codetune.exceptions import PlanRejected
from codetune.state.records import Tokens
from codetune.tuning.common import Derived
from codetune.tuning.parameters import Problem, TuningParameters
from codetune.tuning.prices import price_for

RULE = "budget"


class Estimate(msgspec.Struct, frozen=True):
    """Training tokens and cost of a planned job; None where a factor is not known."""

    tokens_per_epoch: int | None
    token_method: str | None  # "estimate: characters / 4", "sentencepiece: ...", None: unknown
    epochs: float | None  # None: the service's default, not known before the job
    price: float | None  # USD per 1M training tokens
    price_basis: str = "no known price"  # what the price is (codetune.tuning.prices)
    model: str | None = None

    @property
    def training_tokens(self) -> int | None:
        if self.tokens_per_epoch is None or self.epochs is None:
            return None
        return round(self.tokens_per_epoch * self.epochs)

    @property
    def cost(self) -> float | None:
        tokens = self.training_tokens
        if tokens is None or self.price is None:
            return None
        return round(tokens / 1_000_000 * self.price, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens_per_epoch": self.tokens_per_epoch,
            "token_method": self.token_method,
            "epochs": self.epochs,
            "training_tokens": self.training_tokens,
            "price_per_million_training_tokens": self.price,
            "price_basis": self.price_basis,
            "estimated_cost_usd": self.cost,
        }

    def describe(self) -> str:
        """One line for people: what the job would train on and cost."""
        if self.tokens_per_epoch is None:
            return "training tokens unknown (the dataset was validated without token counts)"
        estimated = "" if self.token_method and "sentencepiece" in self.token_method else "~"
        if self.training_tokens is None:
            return (
                f"{estimated}{self.tokens_per_epoch:,} tokens an epoch; epochs are the service's "
                "default, unknown before the job"
            )
        text = (
            f"{estimated}{self.training_tokens:,} training tokens ({self.tokens_per_epoch:,} an "
            f"epoch x {self.epochs:g} epochs)"
        )
        if self.cost is not None:
            text += f", about ${self.cost:,.2f} at ${self.price:g} per 1M ({self.price_basis})"
        else:
            text += f", cost unknown: no price for {self.model or 'the base model'}"
        return text


def estimate(
    tokens: Tokens | None,
    epochs: float | None,
    base_model: str | None,
    p: TuningParameters,
) -> Estimate:
    """The estimate of a plan (the epochs and base model it derives) for the tokens counted."""
    model = base_model or p.large_model_reference
    price = price_for(model, p.training_prices or {}, p.training_price)
    return Estimate(
        tokens_per_epoch=tokens.per_epoch if tokens else None,
        token_method=tokens.method if tokens else None,
        epochs=float(epochs) if epochs is not None else None,
        price=price.usd_per_million,
        price_basis=price.basis,
        model=model,
    )


def problems(
    found: Estimate, p: TuningParameters, evaluation: EvaluationCost | None = None
) -> list[Problem]:
    """Why the job, and the evaluation planned with it, are over the deployment's budget (or
    cannot be checked against it)."""
    out: list[Problem] = []
    for name, limit in (("max_training_tokens", p.max_training_tokens), ("max_cost", p.max_cost)):
        if limit is None:
            continue
        if found.tokens_per_epoch is None:
            out.append(
                Problem(
                    name, RULE, "the dataset's tokens are unknown: upload it again to count them"
                )
            )
        elif found.epochs is None:
            out.append(
                Problem(
                    name,
                    RULE,
                    "the epochs are the service's default, unknown before the job: set "
                    "epoch_count so that the budget can be checked",
                )
            )
        elif name == "max_training_tokens" and (found.training_tokens or 0) > limit:
            out.append(
                Problem(
                    name,
                    RULE,
                    f"{found.describe()}: over the deployment's {limit:,} training tokens",
                )
            )
        elif name == "max_cost" and found.price is None:
            out.append(
                Problem(
                    name,
                    RULE,
                    f"no known price for {found.model or 'the base model'}, so max_cost cannot "
                    "be checked: set its price with CODETUNE_TRAINING_PRICES=MODEL=USD_PER_1M",
                )
            )
        elif name == "max_cost" and evaluation is not None and evaluation.cost is None:
            out.append(
                Problem(
                    name,
                    RULE,
                    f"{evaluation.describe()}, so max_cost cannot be checked: set its price with "
                    "CODETUNE_INFERENCE_PRICES=MODEL=INPUT/OUTPUT (USD per 1M tokens), or "
                    "evaluation_examples=0 for this dataset",
                )
            )
        elif name == "max_cost" and _total(found, evaluation) > limit:
            spent = found.describe()
            if evaluation is not None:
                spent += f"; {evaluation.describe()}; ${_total(found, evaluation):,.2f} in all"
            out.append(Problem(name, RULE, f"{spent}: over the deployment's ${limit:,.2f}"))
    return out


def _total(found: Estimate, evaluation: EvaluationCost | None) -> float:
    """The training's cost and the evaluation's, when both are known (0 for an unknown)."""
    return round((found.cost or 0) + ((evaluation.cost or 0) if evaluation else 0), 2)


def with_context(tokens: Tokens | None, context: str | None, examples: int) -> Tokens | None:
    """A dataset's tokens with a `default_context` given to every example: the most a job can
    train on before the conversion says exactly (an example with its own context gets none)."""
    if tokens is None or not context:
        return tokens
    added = examples * estimate_tokens(token_weight(context))
    return msgspec.structs.replace(tokens, per_epoch=tokens.per_epoch + added, context=added)


def counted(tokens: Tokens | None, converted: int) -> Tokens:
    """The tokens counted on the converted file the job reads, labelled so."""
    method = tokens.method if tokens else "estimate"
    return Tokens(converted, f"{method.partition(',')[0]}, counted on the converted file", False)


class Admission:
    """The budget, checked on what trains (backends call it after any conversion, before the
    create) and the evaluation planned with the job; `spend` is the training's estimate last
    checked, `evaluation` the evaluation's."""

    def __init__(
        self,
        tokens: Tokens | None,
        derived: Derived,
        p: TuningParameters,
        examples: int,
    ) -> None:
        self.tokens, self.derived, self.p, self.examples = tokens, derived, p, examples
        self.evaluation: EvaluationCost | None = None
        # Before any conversion: the dataset alone must fit (a cheap early refusal).
        self.spend = self._estimate(tokens)
        self._check()

    def __call__(self, converted: int | None) -> None:
        if converted is None:  # the job reads the examples as validated, and adds the context
            tokens = with_context(self.tokens, self.derived.default_context, self.examples)
        else:
            tokens = counted(self.tokens, converted)
        self.spend = self._estimate(tokens)
        self._check()

    def evaluate(self, cost: EvaluationCost) -> None:
        """Count the evaluation planned with the job, and check again."""
        self.evaluation = cost
        self._check()

    def _estimate(self, tokens: Tokens | None) -> Estimate:
        return estimate(tokens, self.derived.epochs, self.derived.base_model, self.p)

    def _check(self) -> None:
        over = problems(self.spend, self.p, self.evaluation)
        if over:
            raise PlanRejected(over)


def for_report(
    stats: Mapping[str, Any] | None, p: TuningParameters, model: str | None = None
) -> Estimate:
    """What a report can say before a plan: its `stats.tokens` at the `epoch_count` and the
    model's price in force (a Gemini job's epochs; None when left to the service)."""
    return estimate(Tokens.of(stats), p.epoch_count, model, p)
