"""The verdict over paired scores (codetune.evaluation.verdict, bootstrap): means, the
difference, a seeded paired bootstrap interval, better/equal/worse counts, the flag for a tuned
model worse than its base beyond the interval, and the line people read."""

from __future__ import annotations

import random
import subprocess
import sys

import msgspec
import pytest

from codetune.evaluation.bootstrap import interval
from codetune.evaluation.verdict import ExampleScores, MetricVerdict, Verdict, verdict


def example(
    line: int, base: dict[str, float | None], tuned: dict[str, float | None]
) -> ExampleScores:
    return ExampleScores(line, base, tuned)


def chrf_pairs(base: list[float], tuned: list[float]) -> list[ExampleScores]:
    return [
        example(i + 1, {"chrf": b}, {"chrf": t})
        for i, (b, t) in enumerate(zip(base, tuned, strict=True))
    ]


def one(found: Verdict, name: str) -> MetricVerdict:
    [metric] = [m for m in found.metrics if m.metric == name]
    return metric


def test_identical_scores_give_a_zero_width_interval_and_every_example_equal() -> None:
    scores = chrf_pairs([10.0, 50.0, 90.0] * 10, [10.0, 50.0, 90.0] * 10)
    chrf = one(verdict(scores), "chrf")
    assert (chrf.base, chrf.tuned, chrf.difference) == (50.0, 50.0, 0.0)
    assert (chrf.low, chrf.high) == (0.0, 0.0)
    assert (chrf.better, chrf.equal, chrf.worse) == (0, 30, 0) and not chrf.worse_beyond_interval


def test_a_clear_improvement_has_an_interval_above_zero_around_the_difference() -> None:
    rng = random.Random(5)
    base = [rng.uniform(30, 50) for _ in range(40)]
    tuned = [b + rng.uniform(5, 20) for b in base]
    chrf = one(verdict(chrf_pairs(base, tuned)), "chrf")
    assert chrf.difference == pytest.approx(sum(tuned) / 40 - sum(base) / 40)
    assert chrf.low is not None and chrf.high is not None
    assert 0 < chrf.low < chrf.difference < chrf.high
    assert (chrf.better, chrf.equal, chrf.worse) == (40, 0, 0) and not chrf.worse_beyond_interval


def test_noise_around_no_change_keeps_zero_inside_the_interval() -> None:
    rng = random.Random(8)
    base = [rng.uniform(30, 50) for _ in range(200)]
    tuned = [b + rng.gauss(0, 5) for b in base]
    chrf = one(verdict(chrf_pairs(base, tuned)), "chrf")
    assert chrf.low is not None and chrf.high is not None and chrf.low < 0 < chrf.high


def test_the_bootstrap_is_seeded_deterministic_and_ordered() -> None:
    rng = random.Random(3)
    differences = [rng.gauss(1, 3) for _ in range(50)]
    first = interval(differences, 2_000, 0.95, seed=27)
    assert interval(list(differences), 2_000, 0.95, seed=27) == first
    assert interval(differences, 2_000, 0.95, seed=28) != first
    low, high = first
    assert low < sum(differences) / 50 < high
    narrower = interval(differences, 2_000, 0.50, seed=27)
    assert low < narrower[0] < narrower[1] < high
    assert interval([2.0], 100, 0.95, seed=1) == (2.0, 2.0)
    with pytest.raises(ValueError):
        interval([], 100, 0.95, seed=1)


def test_worse_beyond_the_interval_is_flagged_on_the_worse_side_only() -> None:
    base = [60.0 + i % 7 for i in range(40)]
    worse = one(verdict(chrf_pairs(base, [b - 10 for b in base])), "chrf")
    assert worse.high is not None and worse.high < 0 and worse.worse_beyond_interval
    better = one(verdict(chrf_pairs(base, [b + 10 for b in base])), "chrf")
    assert not better.worse_beyond_interval
    # One bad example among equal ones: worse on average, but the interval reaches 0.
    mixed = one(verdict(chrf_pairs(base, [base[0] - 30, *base[1:]])), "chrf")
    assert mixed.worse == 1 and mixed.high == 0.0 and not mixed.worse_beyond_interval


def test_the_length_ratio_is_better_nearer_one_either_way() -> None:
    # base answers twice or half the reference's length, tuned ones nearly right
    scores = [
        example(i, {"length_ratio": 2.0 if i % 2 else 0.5}, {"length_ratio": 1.05})
        for i in range(20)
    ]
    length = one(verdict(scores), "length_ratio")
    assert length.difference is not None and length.difference < 0
    assert (length.better, length.worse) == (20, 0) and not length.worse_beyond_interval
    backwards = [example(i, e.tuned, e.base) for i, e in enumerate(scores)]
    assert one(verdict(backwards), "length_ratio").worse_beyond_interval


def test_not_applicable_examples_are_counted_apart_and_never_compared() -> None:
    scores = [
        example(1, {"code_parses": 1.0}, {"code_parses": 0.0}),
        example(2, {"code_parses": None}, {"code_parses": None}),
        example(3, {"code_parses": 0.0}, {"code_parses": 1.0}),
    ]
    parses = one(verdict(scores), "code_parses")
    assert (parses.examples, parses.not_applicable, parses.better, parses.worse) == (2, 1, 1, 1)
    nothing = one(verdict(scores[1:2]), "code_parses")
    assert nothing.base is None and nothing.low is None and not nothing.worse_beyond_interval
    assert nothing.describe() == "code parses: not applicable to any of 1 examples"


def test_describe_reads_as_one_line_per_metric() -> None:
    base = [40.0 + i % 5 for i in range(40)]
    tuned = [b + 14 if i % 4 else b for i, b in enumerate(base)]
    line = one(verdict(chrf_pairs(base, tuned)), "chrf").describe()
    assert line.startswith("chrF 42.0 → 52.5 (+10.5, 95% CI +")
    assert line.endswith("); better on 30 of 40") and "\n" not in line
    scores = [example(i, {"exact_match": 1.0}, {"exact_match": float(i % 2)}) for i in range(40)]
    exact = one(verdict(scores), "exact_match").describe()
    assert exact.startswith("exact match 100.0% → 50.0% (-50.0, 95% CI -")
    assert exact.endswith(
        "better on 0 of 40, worse on 20; WORSE than the base model beyond the interval"
    )


def test_the_verdict_round_trips_through_msgspec_for_the_record_and_the_message() -> None:
    rng = random.Random(1)
    scores = [
        example(
            i,
            {
                "exact_match": 0.0,
                "chrf": rng.uniform(0, 100),
                "code_parses": None,
                "length_ratio": 1.5,
            },
            {
                "exact_match": 1.0,
                "chrf": rng.uniform(0, 100),
                "code_parses": None,
                "length_ratio": 1.0,
            },
        )
        for i in range(30)
    ]
    found = verdict(scores)
    assert found == verdict(scores)  # deterministic end to end
    assert msgspec.json.decode(msgspec.json.encode(found), type=Verdict) == found
    stored = msgspec.json.encode(scores)
    assert msgspec.json.decode(stored, type=list[ExampleScores]) == scores
    assert found.examples == 30 and len(found.describe()) == 4
    assert found.worse == [m.metric for m in found.metrics if m.worse_beyond_interval]


def test_the_verdict_and_the_cost_load_without_the_evaluation_extra() -> None:
    """The command line and the other functions read verdicts and estimates; only the
    evaluation function ships sacrebleu, numpy and tree-sitter."""
    code = (
        "import sys, codetune.evaluation.verdict, codetune.evaluation.cost;"
        "print(sorted(m for m in ('sacrebleu', 'numpy', 'tree_sitter') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
