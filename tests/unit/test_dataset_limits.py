"""Both edges of every count limit: S-2, S-3, S-4, S-5."""

from __future__ import annotations

import orjson
import pytest

from codetune.dataset import DatasetRole
from tests.support import (
    chat_dataset,
    dataset,
    faults,
    generation,
    generation_dataset,
    validate,
    warning_rules,
)

EVALUATION = DatasetRole.EVALUATION


@pytest.mark.parametrize("make", [generation_dataset, chat_dataset], ids=["generation", "chat"])
def test_s2_nine_training_examples_are_too_few(make) -> None:  # type: ignore[no-untyped-def]
    report = validate(dataset(make(9)))
    assert faults(report) == [("S-2", None, None)]
    assert report["examples"] == 9


@pytest.mark.parametrize("make", [generation_dataset, chat_dataset], ids=["generation", "chat"])
def test_s2_ten_training_examples_are_enough_with_a_warning(make) -> None:  # type: ignore[no-untyped-def]
    report = validate(dataset(make(10)))
    assert report["valid"] is True
    assert warning_rules(report) == ["S-2"]


def test_s2_warning_stops_at_the_recommended_500() -> None:
    assert "S-2" in warning_rules(validate(dataset(generation_dataset(499))))
    assert "S-2" not in warning_rules(validate(dataset(generation_dataset(500))))


def test_s2_an_empty_file_has_no_examples() -> None:
    report = validate(b"")
    assert faults(report) == [("S-2", None, None)]
    assert report["kind"] is None and report["examples"] == 0


def test_s3_ten_thousand_generation_examples_are_the_most() -> None:
    report = validate(dataset(generation_dataset(10_000)))
    assert report["valid"] is True and report["examples"] == 10_000


def test_s3_the_ten_thousand_and_first_example_is_named() -> None:
    report = validate(dataset(generation_dataset(10_001)))
    assert faults(report) == [("S-3", 10_001, None)]


def test_s3_counts_examples_not_lines() -> None:
    lines = generation_dataset(10_001)
    lines.insert(3, b"[]")  # a line holding no example does not count towards S-3
    assert faults(validate(dataset(lines))) == [("not-object", 4, None), ("S-3", 10_002, None)]


def test_s4_ten_thousand_author_fields_are_the_most() -> None:
    report = validate(dataset(chat_dataset(5_000)))  # two messages each
    assert report["valid"] is True
    assert report["stats"]["author_fields"] == 10_000
    assert report["stats"]["authors"] == {"assistant": 5_000, "user": 5_000}


def test_s4_the_ten_thousand_and_first_author_field_is_named() -> None:
    lines = chat_dataset(4_999)
    # Three turns: the 10,001st author field, on the last line (whose last turn is also wrong).
    lines.append(
        orjson.dumps(
            {
                "messages": [
                    {"author": a, "content": "Write Python"} for a in ("user", "assistant", "user")
                ]
            }
        )
    )
    assert faults(validate(dataset(lines))) == [
        ("S-4", 5_000, None),
        ("chat-turns", 5_000, "messages[2].author"),
    ]


def test_s4_is_summed_over_every_message_of_every_example() -> None:
    long_chat = [
        {"author": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} in Python"}
        for i in range(10)
    ]
    lines = [
        orjson.dumps(
            {
                "messages": [
                    *long_chat[:8],
                    {"author": "user", "content": f"Write Python {n}"},
                    {"author": "assistant", "content": "ok"},
                ]
            }
        )
        for n in range(1_001)
    ]  # 10 author fields each: 10,010 in all
    assert faults(validate(dataset(lines))) == [("S-4", 1_001, None)]


@pytest.mark.parametrize(("count", "valid"), [(9, False), (10, True), (250, True), (251, False)])
def test_s5_an_evaluation_dataset_holds_10_to_250_examples(count: int, valid: bool) -> None:
    report = validate(dataset(generation_dataset(count)), role=EVALUATION)
    assert report["valid"] is valid
    assert report["role"] == "evaluation"
    if count == 9:
        assert faults(report) == [("S-5", None, None)]
    if count == 251:
        assert faults(report) == [("S-5", 251, None)]
    assert "S-2" not in warning_rules(report)  # the training recommendation does not apply


def test_s5_an_evaluation_dataset_is_not_held_to_the_training_maximum() -> None:
    report = validate(dataset(generation_dataset(10_001)), role=EVALUATION)
    assert faults(report) == [("S-5", 251, None)]


def test_limits_count_examples_with_faults_too() -> None:
    lines = generation_dataset(10)
    lines[0] = generation(0, input_text="")
    report = validate(dataset(lines))
    assert faults(report) == [("S-1", 1, "input_text")]
    assert report["examples"] == 10
