"""The verdict over paired scores: for each metric, base and tuned means, the difference, its
bootstrap confidence interval, and on how many examples the tuned answer is better, equal or
worse; flagged when the whole interval lies on the worse side."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from codetune.evaluation.bootstrap import interval
from codetune.evaluation.metrics import BY_NAME, METRICS, Metric

RESAMPLES = 2_000
CONFIDENCE = 0.95
SEED = 27
EQUAL_WITHIN = 1e-9  # float noise, not a difference


class ExampleScores(msgspec.Struct, frozen=True):
    """One evaluation example's scores, by metric name: the base model's answer and the tuned
    model's (None: the metric does not apply to the example)."""

    example: int  # its line in the evaluation dataset
    base: dict[str, float | None]
    tuned: dict[str, float | None]


class MetricVerdict(msgspec.Struct, frozen=True):
    """One metric's comparison, on its compared quantity (codetune.evaluation.metrics)."""

    metric: str
    direction: str
    examples: int  # those it applies to
    not_applicable: int
    base: float | None  # means; None when it applies to no example
    tuned: float | None
    difference: float | None  # tuned - base
    low: float | None  # the difference's confidence interval
    high: float | None
    better: int
    equal: int
    worse: int
    worse_beyond_interval: bool

    def describe(self, confidence: float = CONFIDENCE) -> str:
        """'chrF 41.2 → 55.0 (+13.8, 95% CI +9.1..+18.3); better on 31 of 40'."""
        metric = BY_NAME[self.metric]
        if self.base is None or self.tuned is None or self.difference is None:
            return f"{metric.title}: not applicable to any of {self.not_applicable} examples"
        low, high = self.low or 0.0, self.high or 0.0
        text = (
            f"{metric.title} {metric.shown(self.base)}{metric.unit} → "
            f"{metric.shown(self.tuned)}{metric.unit} ({metric.shown(self.difference, '+')}, "
            f"{confidence:.0%} CI {metric.shown(low, '+')}..{metric.shown(high, '+')}); "
            f"better on {self.better} of {self.examples}"
        )
        if self.worse:
            text += f", worse on {self.worse}"
        if self.not_applicable:
            text += f" ({self.not_applicable} not applicable)"
        if self.worse_beyond_interval:
            text += "; WORSE than the base model beyond the interval"
        return text


class Verdict(msgspec.Struct, frozen=True):
    """Every metric's verdict over an evaluation's examples, and how it was reached."""

    examples: int
    metrics: list[MetricVerdict]
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = SEED

    @property
    def worse(self) -> list[str]:
        """The metrics on which the tuned model is worse than its base beyond the interval."""
        return [m.metric for m in self.metrics if m.worse_beyond_interval]

    def describe(self) -> list[str]:
        """One line per metric, for the command line."""
        return [m.describe(self.confidence) for m in self.metrics]


def verdict(
    scores: Sequence[ExampleScores],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Verdict:
    """The verdict of paired scores; the same scores always give the same verdict."""
    found = [_metric(metric, scores, resamples, confidence, seed) for metric in METRICS]
    return Verdict(len(scores), found, resamples, confidence, seed)


def _metric(
    metric: Metric,
    scores: Sequence[ExampleScores],
    resamples: int,
    confidence: float,
    seed: int,
) -> MetricVerdict:
    pairs = [
        (metric.compared(base), metric.compared(tuned))
        for example in scores
        if (base := example.base.get(metric.name)) is not None
        and (tuned := example.tuned.get(metric.name)) is not None
    ]
    skipped = len(scores) - len(pairs)
    if not pairs:
        return MetricVerdict(
            metric.name, metric.direction, 0, skipped, None, None, None, None, None, 0, 0, 0, False
        )
    gains = [metric.sign * (tuned - base) for base, tuned in pairs]
    differences = [tuned - base for base, tuned in pairs]
    low, high = interval(differences, resamples, confidence, seed)
    worse_beyond = high < 0 if metric.sign > 0 else low > 0
    return MetricVerdict(
        metric=metric.name,
        direction=metric.direction,
        examples=len(pairs),
        not_applicable=skipped,
        base=sum(base for base, _ in pairs) / len(pairs),
        tuned=sum(tuned for _, tuned in pairs) / len(pairs),
        difference=sum(differences) / len(pairs),
        low=low,
        high=high,
        better=sum(gain > EQUAL_WITHIN for gain in gains),
        equal=sum(abs(gain) <= EQUAL_WITHIN for gain in gains),
        worse=sum(gain < -EQUAL_WITHIN for gain in gains),
        worse_beyond_interval=worse_beyond,
    )
