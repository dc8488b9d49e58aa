"""Warnings (S-2, S-7, S-8, S-9, duplicates, unknown fields), statistics and the report's caps."""

from __future__ import annotations

import orjson
import pytest

from codetune.dataset import DatasetKind
from codetune.dataset.keys import shown_key
from codetune.dataset.prompts import has_instruction, opening, prompt_layout
from tests.support import (
    chat,
    chat_dataset,
    dataset,
    faults,
    generation,
    generation_dataset,
    validate,
    warning_rules,
)


def warnings_of(report: dict, rule: str) -> list[dict]:  # type: ignore[type-arg]
    return [w for w in report["warnings"] if w["rule"] == rule]


# --- S-7: instructions ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "instructed"),
    [
        # The two prompts of Google's page: without, then with an instruction.
        ("Calculate the sum of a list of integers.", False),
        ("Write the code in Python: calculate the sum of a list of integers", True),
        # The page's dataset examples name the language.
        ("How to create a product in Python with the Cloud Vision API?", True),
        ("python to retrieve the labels of a dataset for a given dataset ID in BigQuery", True),
        ("Implement a function that reverses a linked list", True),
        ("Generate a SQL query that counts orders per day", True),
        ("Fix this code so that it compiles", True),
        ("Write it in Go, please: a worker pool", True),
        ("Port this to C++ with RAII", True),
        ("Sort a list of names by length", False),
        ("The quick brown fox", False),
        ("Let's go to the park", False),
    ],
)
def test_s7_instruction_heuristic(prompt: str, instructed: bool) -> None:
    assert has_instruction(opening(prompt)) is instructed


def test_s7_examples_without_instruction_give_one_warning_with_their_lines() -> None:
    lines = generation_dataset(12)
    for index in (2, 7, 8):
        lines[index] = generation(index, input_text=f"Sum the integers up to {index}.")
    report = validate(dataset(lines))
    assert report["valid"] is True
    [warning] = warnings_of(report, "S-7")
    assert warning["line"] is None
    assert "3 examples" in warning["message"] and "3, 8, 9" in warning["message"]
    assert report["stats"]["examples_without_instruction"] == 3


def test_s7_a_chat_instruction_may_sit_in_the_context() -> None:
    uninstructed = [
        {"author": "user", "content": "Sum the integers."},
        {"author": "assistant", "content": "sum(x)"},
    ]
    lines = [
        chat(
            i,
            messages=[
                *uninstructed,
                {"author": "user", "content": f"And {i}?"},
                {"author": "assistant", "content": str(i)},
            ],
        )
        for i in range(12)
    ]
    assert "S-7" in warning_rules(validate(dataset(lines)))
    lines = [
        chat(
            i,
            context="Answer with Python code.",
            messages=[
                *uninstructed,
                {"author": "user", "content": f"And {i}?"},
                {"author": "assistant", "content": str(i)},
            ],
        )
        for i in range(12)
    ]
    assert "S-7" not in warning_rules(validate(dataset(lines)))


# --- S-8: prompt layouts ----------------------------------------------------------------------
def test_s8_layout_is_the_order_of_labelled_sections() -> None:
    assert prompt_layout(opening("question: how?\ncontext: a table\nquestion: again")) == (
        "question",
        "context",
    )
    assert prompt_layout(opening("Context: x\n  Question: y")) == ("context", "question")
    assert prompt_layout(opening("Write the code in Python: sum a list")) == ()


def test_s8_one_layout_gives_no_warning_mixed_layouts_do() -> None:
    same = [
        generation(i, input_text=f"question: write Python for {i}\ncontext: lists")
        for i in range(12)
    ]
    assert "S-8" not in warning_rules(validate(dataset(same)))
    mixed = list(same)
    mixed[4] = generation(4, input_text="context: lists\nquestion: write Python for 4")
    mixed[9] = generation(9, input_text="Write Python for 9")
    report = validate(dataset(mixed))
    [warning] = warnings_of(report, "S-8")
    assert "3 layouts" in warning["message"] and "first on line 5" in warning["message"]
    layouts = {tuple(x["labels"]): x["examples"] for x in report["stats"]["prompt_layouts"]}
    assert layouts == {("question", "context"): 10, ("context", "question"): 1, (): 1}


# --- S-9: token limits (estimated) ------------------------------------------------------------
def test_s9_examples_over_the_8k_models_limits_warn_and_name_the_32k_models() -> None:
    lines = generation_dataset(12)
    lines[3] = generation(3, output_text="x" * (1_025 * 4))  # 1,025 estimated output tokens
    lines[6] = generation(6, input_text="Write Python: " + "y" * (6_145 * 4))
    report = validate(dataset(lines))
    assert report["valid"] is True
    assert [(w["line"]) for w in warnings_of(report, "S-9")] == [4, 7]
    assert all(
        "-32k" in w["message"] and "estimated" in w["message"] for w in warnings_of(report, "S-9")
    )
    tokens = report["stats"]["estimated_tokens"]
    assert tokens["examples_over_8k_limits"] == 2 and tokens["examples_over_32k_limits"] == 0
    assert tokens["method"].startswith("estimate")


def test_s9_the_largest_examples_that_fit_give_no_warning() -> None:
    lines = generation_dataset(12)
    lines[3] = generation(3, output_text="x" * (1_024 * 4))
    lines[4] = generation(4, input_text="Write Python: " + "y" * (6_144 * 4 - 14))
    assert "S-9" not in warning_rules(validate(dataset(lines)))


def test_s9_examples_over_every_model_say_so() -> None:
    lines = generation_dataset(12)
    lines[2] = generation(2, output_text="z" * (8_193 * 4))
    [warning] = warnings_of(validate(dataset(lines)), "S-9")
    assert warning["line"] == 3 and "every code model" in warning["message"]


def test_s9_chat_prompt_is_context_and_every_turn_before_the_answer() -> None:
    long_turn = "w" * (6_000 * 4)
    messages = [
        {"author": "user", "content": "Write Python: " + long_turn},
        {"author": "assistant", "content": "ok"},
        {"author": "user", "content": "v" * (200 * 4)},
        {"author": "assistant", "content": "done"},
    ]
    lines = chat_dataset(12)
    lines[0] = chat(0, messages=messages)
    assert [w["line"] for w in warnings_of(validate(dataset(lines)), "S-9")] == [1]


# --- Duplicates and unknown fields ------------------------------------------------------------
def test_exact_duplicates_warn_with_the_first_line() -> None:
    lines = generation_dataset(12)
    lines[10] = lines[2]
    lines[11] = orjson.dumps(
        {
            "output_text": orjson.loads(lines[2])["output_text"],
            "input_text": orjson.loads(lines[2])["input_text"],
        }
    )  # key order differs
    report = validate(dataset(lines))
    assert [(w["line"], w["message"]) for w in warnings_of(report, "duplicate")] == [
        (11, "example repeats line 3 exactly"),
        (12, "example repeats line 3 exactly"),
    ]
    assert report["stats"]["duplicate_examples"] == 2


def test_chat_duplicates_compare_context_and_every_turn() -> None:
    lines = chat_dataset(12)
    lines[5] = chat(1)
    lines[6] = chat(1, context="Answer in Python.")  # a different example: its context differs
    assert [w["line"] for w in warnings_of(validate(dataset(lines)), "duplicate")] == [6]


def test_unknown_fields_warn_but_do_not_invalidate() -> None:
    lines = generation_dataset(12)
    lines[1] = generation(1, source="github")
    lines[2] = chat(2, id=3)
    lines[2] = generation(2, **{"input-text": "x"})
    report = validate(dataset(lines))
    assert report["valid"] is True
    assert [(w["line"], w["field"]) for w in warnings_of(report, "unknown-field")] == [
        (2, "source"),
        (3, shown_key("input-text")),  # an unknown key longer than 8 characters is cut
    ]
    assert shown_key("input-text").startswith("input-te…")
    chats = chat_dataset(12)
    chats[0] = orjson.dumps(
        {
            "messages": [
                {"author": "user", "content": "Write Python", "ts": 1},
                {"author": "assistant", "content": "x"},
            ]
        }
    )
    report = validate(dataset(chats))
    assert [(w["line"], w["field"]) for w in warnings_of(report, "unknown-field")] == [
        (1, "messages[0].ts")
    ]


# --- Line ends and the whole file -------------------------------------------------------------
def test_crlf_line_ends_are_accepted_and_counted() -> None:
    data = b"".join(line + b"\r\n" for line in generation_dataset(12))
    report = validate(data)
    assert report["valid"] is True and report["stats"]["crlf_lines"] == 12


def test_a_final_line_without_newline_counts() -> None:
    data = dataset(generation_dataset(11)) + generation(11)
    report = validate(data)
    assert report["examples"] == 12 and report["stats"]["lines"] == 12


def test_a_trailing_blank_line_is_reported() -> None:
    data = dataset(generation_dataset(12)) + b"\n"
    assert faults(validate(data)) == [("blank-line", 13, None)]


# --- Statistics -------------------------------------------------------------------------------
def test_statistics_of_a_generation_dataset() -> None:
    lines = [
        generation(i, input_text="Write Python " + "p" * i, output_text="r" * (10 * i + 1))
        for i in range(1, 13)
    ]
    stats = validate(dataset(lines))["stats"]
    assert stats["prompt_chars"] == {"min": 14, "max": 25, "mean": 19.5, "total": 234}
    assert stats["response_chars"]["min"] == 11 and stats["response_chars"]["max"] == 121
    assert stats["estimated_tokens"]["response"] == {"min": 3, "max": 31, "mean": 16.5}
    assert stats["lines"] == 12 and stats["bytes"] == len(dataset(lines))
    assert "author_fields" not in stats


def test_statistics_of_a_chat_dataset() -> None:
    lines = chat_dataset(11)
    lines.append(
        chat(
            11,
            messages=[
                {"author": "user", "content": "Write Python"},
                {"author": "assistant", "content": "a"},
                {"author": "user", "content": "More"},
                {"author": "assistant", "content": "b"},
            ],
        )
    )
    stats = validate(dataset(lines), kind=DatasetKind.CHAT)["stats"]
    assert stats["author_fields"] == 26
    assert stats["authors"] == {"assistant": 13, "user": 13}
    assert stats["messages_per_example"] == {"min": 2, "max": 4, "mean": 2.2, "total": 26}
    assert stats["kind_detected_on_line"] is None  # the kind was given


# --- Caps -------------------------------------------------------------------------------------
def test_findings_are_capped_per_rule_and_in_all_but_counted_in_full() -> None:
    lines = (
        [b"{" for _ in range(500)]
        + [b"7" for _ in range(500)]
        + [generation(1, output_text=1)] * 300
    )
    lines += [generation(i, input_text=b"x".decode() * (i % 3 + 1) + " ") for i in range(300)]
    report = validate(dataset(lines))
    counts = report["stats"]["findings"]
    assert counts["errors"] == {"S-1": 300, "json": 500, "not-object": 500}
    assert [e["rule"] for e in report["errors"]].count("json") == 20
    assert len(report["errors"]) == 60
    assert counts["errors_not_listed"] == 1_300 - 60
    assert report["errors"] == sorted(report["errors"], key=lambda e: e["line"])
