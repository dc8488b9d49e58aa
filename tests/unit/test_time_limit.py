"""The time limit on one validation (rule `time-limit`): a pass that cannot finish in the
deployment's time ends with a report that says where it stopped, instead of being killed with
none, and a dataset not checked to its end is never valid (no job on data that was not checked).
The near-duplicate search (opt-in) stops at its own share and says so, as a warning."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import jsonschema

from codetune.dataset import validate_stream
from codetune.dataset.checks import TimeShare
from codetune.dataset.near import NearDuplicates
from codetune.dataset.overlap import TrainingOverlap, index_evaluation
from tests.support import (
    LEGACY_RULES,
    dataset,
    faults,
    generation,
    generation_dataset,
    report_schema,
    warning_rules,
)
from tests.unit.test_near import ANSWER, TASK, near_copy


class Trickle:
    """A stream that hands out one line a read, as a slow bucket would: the validator sees
    the clock between every two lines."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = [line + b"\n" for line in lines]

    def read(self, size: int = -1, /) -> bytes:
        return self.lines.pop(0) if self.lines else b""


def ticks() -> Callable[[], float]:
    """A clock that moves one second each time it is read."""
    return itertools.count().__next__  # type: ignore[return-value]


def run(lines: list[bytes], time_limit: float | None, **options: Any) -> dict[str, Any]:
    report = validate_stream(
        Trickle(lines),
        "gs://bucket/data.jsonl",
        rules=LEGACY_RULES,
        time_limit=time_limit,
        clock=ticks(),
        **options,
    ).to_dict()
    jsonschema.validate(report, report_schema())
    return report


def test_a_pass_over_its_time_stops_and_names_the_first_line_not_checked() -> None:
    # The clock reads 0 at the start, then 1, 2, ... as lines 1, 2, ... are read: line 11 is
    # read after 11 seconds, past the limit of 10.5.
    report = run(generation_dataset(30), time_limit=10.5)
    assert faults(report) == [("time-limit", 11, None)]
    assert report["valid"] is False
    assert report["stats"]["complete"] is False
    assert report["stats"]["lines"] == 10 and report["examples"] == 10
    [error] = report["errors"]
    assert "10.5 seconds" in error["message"] and "CODETUNE_VALIDATION_SECONDS" in error["message"]


def test_a_stopped_pass_keeps_what_it_found_and_judges_no_whole_file_rule() -> None:
    lines = generation_dataset(30)
    lines[2] = b"{not json"
    report = run(lines, time_limit=10.5)
    # Line 3's fault stands; S-2's advice (10 examples seen, 500 recommended) would describe
    # a part of the file as if it were the whole, so it is not given.
    assert faults(report) == [("json", 3, None), ("time-limit", 11, None)]
    assert "S-2" not in warning_rules(report)


def test_a_pass_within_its_time_is_whole_and_valid() -> None:
    report = run(generation_dataset(30), time_limit=100)
    assert report["valid"] is True and report["stats"]["complete"] is True
    assert report["examples"] == 30


def test_without_a_limit_a_pass_never_stops() -> None:
    report = run(generation_dataset(30), time_limit=None)
    assert report["valid"] is True and report["stats"]["complete"] is True


def test_the_limit_is_checked_between_reads_not_after_the_last_one() -> None:
    # 30 lines are read by second 30; the last read (end of file) is not a line to check.
    report = run(generation_dataset(30), time_limit=30)
    assert report["valid"] is True and report["examples"] == 30


def planted_near_copy(count: int) -> list[bytes]:
    """`count` examples, line 251 a near copy of line 41."""
    lines = generation_dataset(count)
    lines[40] = generation(40, input_text=TASK, output_text=ANSWER)
    lines[250] = generation(250, input_text=near_copy(TASK), output_text=ANSWER)
    return lines


def test_a_near_duplicate_search_within_its_share_runs_to_the_end() -> None:
    check = NearDuplicates(time=TimeShare(1000, ticks()))
    report = run(planted_near_copy(300), time_limit=None, checks=[check])
    stats = report["stats"]["near_duplicates"]
    assert stats["stopped_at_line"] is None and stats["examples_indexed"] == 300
    assert [w["line"] for w in report["warnings"] if w["rule"] == "near-duplicate"] == [251]


def test_the_near_duplicate_search_stops_at_its_share_with_a_warning() -> None:
    check = NearDuplicates(time=TimeShare(2.5, ticks()))
    report = run(planted_near_copy(300), time_limit=None, checks=[check])
    assert report["valid"] is True  # the search is advice: its stop is a warning
    # Its clock is read as it starts and every 64 examples: 1 at 64 examples, 2 at 128,
    # 3 (past 2.5) at 192, which it no longer compares; line 251's near copy goes unseen.
    [warning] = [w for w in report["warnings"] if w["rule"] == "near-duplicate"]
    assert warning["line"] is None
    assert "stopped at line 192" in warning["message"] and "2.5 seconds" in warning["message"]
    stats = report["stats"]["near_duplicates"]
    assert stats["stopped_at_line"] == 192 and stats["examples_indexed"] == 191


def test_the_near_overlap_search_stops_at_its_time_and_the_exact_check_does_not() -> None:
    evaluation = [generation(900 + i) for i in range(11)] + [generation(950, input_text=TASK)]
    _, index = index_evaluation(
        io.BytesIO(dataset(evaluation)), "eval.jsonl", rules=LEGACY_RULES, near=True
    )
    training = generation_dataset(300)
    training[250] = generation(950, input_text=near_copy(TASK))  # after the search stopped
    training[260] = evaluation[3]  # an exact overlap: still found
    check = TrainingOverlap(index, near_time=TimeShare(2.5, ticks()))
    report = run(training, time_limit=None, checks=[check])
    assert [e["line"] for e in report["errors"] if e["rule"] == "overlap"] == [261]
    [warning] = [w for w in report["warnings"] if w["rule"] == "near-overlap"]
    assert warning["line"] is None and "stopped at training line 192" in warning["message"]
    assert report["stats"]["overlap"]["near_stopped_at_line"] == 192
    within = TrainingOverlap(index, near_time=TimeShare(1000, ticks()))
    report = run(training, time_limit=None, checks=[within])
    assert [w["line"] for w in report["warnings"] if w["rule"] == "near-overlap"] == [251]
