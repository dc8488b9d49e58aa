"""What a job will cost, and the deployment's budget (rule `budget`), before the job exists.

Training tokens are the dataset's tokens times the epochs the plan derives (Google bills tuning
per training token: FACTS.md, "Pricing"); the cost is those at the deployment's
`training_price`. codetune ships no price: Google's pricing page could not be read where this
was written, so the price is the deployment's to set from that page, and an estimate without
one gives tokens only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from codetune.tuning.parameters import Problem, TuningParameters

RULE = "budget"
PRICE_SOURCE = "https://cloud.google.com/vertex-ai/generative-ai/pricing"


class Estimate(msgspec.Struct, frozen=True):
    """Training tokens and cost of a planned job; None where a factor is not known."""

    tokens_per_epoch: int | None
    token_method: str | None  # "estimate: characters / 4", "sentencepiece: ...", None: unknown
    epochs: float | None  # None: the service's default, not known before the job
    price: float | None  # USD per 1M training tokens

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
            text += f", about ${self.cost:,.2f} at ${self.price:g} per 1M"
        return text


def estimate(
    tokens: Mapping[str, Any] | None, derived: Mapping[str, Any], p: TuningParameters
) -> Estimate:
    """The estimate of a plan (its `derived` epochs) for a dataset's recorded tokens."""
    epochs = derived.get("epochs")
    return Estimate(
        tokens_per_epoch=int(tokens["per_epoch"]) if tokens else None,
        token_method=str(tokens.get("method")) if tokens else None,
        epochs=float(epochs) if epochs is not None else None,
        price=p.training_price,
    )


def problems(found: Estimate, p: TuningParameters) -> list[Problem]:
    """Why the job is over the deployment's budget (or cannot be checked against it)."""
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
                Problem(name, RULE, "max_cost needs training_price, the price per 1M tokens")
            )
        elif name == "max_cost" and (found.cost or 0) > limit:
            out.append(
                Problem(name, RULE, f"{found.describe()}: over the deployment's ${limit:,.2f}")
            )
    return out


def for_report(tokens: Mapping[str, Any] | None, p: TuningParameters) -> Estimate:
    """What a report can say before a plan: the tokens at the `epoch_count` and
    `training_price` in force (a Gemini job's epochs; None when left to the service)."""
    return estimate(tokens, {"epochs": p.epoch_count}, p)
