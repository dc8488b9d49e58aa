"""A paired bootstrap's percentile interval of a mean difference (Efron and Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13): resample the examples with replacement, take
each resample's mean difference, and read the interval's ends off their quantiles. Seeded:
the same differences always give the same interval."""

from __future__ import annotations

import random
from collections.abc import Sequence


def interval(
    differences: Sequence[float], resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """The (low, high) percentile interval of the mean of `differences` (one per example)."""
    if not differences:
        raise ValueError("no differences to resample")
    count = len(differences)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(differences, k=count)) / count for _ in range(resamples))
    tail = (1 - confidence) / 2
    return _quantile(means, tail), _quantile(means, 1 - tail)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated between the nearest two (Hyndman and
    Fan's type 7, numpy's default)."""
    position = (len(ordered) - 1) * q
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
