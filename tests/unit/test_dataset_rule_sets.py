"""Rules follow the target model: the seed's code-bison limits (S-2..S-6, S-9) for the legacy
models, Google's Gemini limits for Gemini (codetune.gemini.models)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole
from codetune.gemini.check import convert_and_check
from codetune.tuning.backends import default_rules, rules_for
from tests.support import (
    LEGACY_RULES,
    chat_dataset,
    dataset,
    generation,
    generation_dataset,
    validate,
)

GEMINI = default_rules()


def rules_of(report: dict[str, object]) -> set[str]:
    return {str(f["rule"]) for f in report["errors"]}  # type: ignore[index, union-attr]


def test_the_report_names_the_model_the_rule_set_and_the_format() -> None:
    report = validate(dataset(generation_dataset(12)), rules=GEMINI)
    assert (report["base_model"], report["rule_set"], report["format"]) == (
        "gemini-3.5-flash",
        "gemini",
        "seed",
    )
    legacy = validate(dataset(generation_dataset(12)))
    assert (legacy["base_model"], legacy["rule_set"]) == ("code-bison@002", "code-bison")


def test_gemini_takes_more_than_the_seeds_10000_generation_examples() -> None:
    data = dataset(generation_dataset(10_001))
    assert "S-3" in rules_of(validate(data))
    assert validate(data, rules=GEMINI)["valid"]


def test_gemini_validation_sets_take_chat_and_up_to_5000_examples() -> None:
    chats = dataset(chat_dataset(12))
    assert "S-6" in rules_of(validate(chats, role=DatasetRole.EVALUATION))
    assert validate(chats, role=DatasetRole.EVALUATION, rules=GEMINI)["valid"]
    three_hundred = dataset(generation_dataset(300))
    assert "S-5" in rules_of(validate(three_hundred, role=DatasetRole.EVALUATION))
    assert validate(three_hundred, role=DatasetRole.EVALUATION, rules=GEMINI)["valid"]
    too_many = validate(
        dataset(generation_dataset(5_001)), role=DatasetRole.EVALUATION, rules=GEMINI
    )
    assert [(e["rule"], e["line"]) for e in too_many["errors"]] == [("gemini-size", 5_001)]


def test_an_example_over_geminis_token_limit_is_a_warning_and_all_of_them_an_error() -> None:
    huge = "x" * (131_072 * 4 + 4)  # about 131,073 tokens (estimated) with the prompt
    lines = generation_dataset(12)
    lines[4] = generation(4, output_text=huge)
    one = validate(dataset(lines), rules=GEMINI)
    assert one["valid"]
    assert [(w["rule"], w["line"]) for w in one["warnings"] if w["rule"] == "gemini-tokens"] == [
        ("gemini-tokens", 5)
    ]
    assert one["stats"]["estimated_tokens"]["examples_over_model_limit"] == 1
    every = validate(dataset([generation(i, output_text=huge) for i in range(12)]), rules=GEMINI)
    assert not every["valid"] and "gemini-tokens" in rules_of(every)


def test_the_8k_model_limits_do_not_apply_to_gemini() -> None:
    long_prompt = "Write the code in Python: " + "y" * 30_000
    data = dataset([generation(i, input_text=long_prompt + str(i)) for i in range(12)])
    assert any(w["rule"] == "S-9" for w in validate(data)["warnings"])
    assert not any(w["rule"] == "S-9" for w in validate(data, rules=GEMINI)["warnings"])


def test_every_backend_gives_the_rules_of_each_of_its_models() -> None:
    assert rules_for("codechat-bison@002") is not None
    assert rules_for("gemini-2.5-pro") is not None and rules_for("gemini-9") is None
    assert LEGACY_RULES.name == "code-bison" and GEMINI.name == "gemini"


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Texts whose JSON and UTF-8 forms are longer than their characters: quotes, backslashes, tabs,
# accents, CJK, emoji.
WIDE = 'print("café\\t日本語 🚀")\nreturn "\\\\"'


def converted_size(data: bytes, report: dict[str, Any]) -> int:
    """The bytes of the file tune would write: the dataset converted to Gemini's format."""
    written = io.BytesIO()
    result = convert_and_check(
        data.splitlines(),
        written.write,
        DatasetKind(report["kind"]),
        DatasetRole.TRAINING,
        format=DatasetFormat(report["format"]),
    )
    return result.bytes_written


def floor_named(report: dict[str, Any]) -> int:
    [error] = [e for e in report["errors"] if e["rule"] == "gemini-size"]
    found = re.search(r"at least ([\d,]+) bytes", error["message"])
    assert found is not None and error["line"] is None
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize(
    "data",
    [
        (EXAMPLES / "code-generation.jsonl").read_bytes(),
        (EXAMPLES / "code-chat.jsonl").read_bytes(),
        (EXAMPLES / "code-chat.gemini.jsonl").read_bytes(),
        (EXAMPLES / "code-chat.openai.jsonl").read_bytes(),
        dataset([generation(i, input_text=f"Write Python {i}: {WIDE}") for i in range(12)]),
    ],
    ids=["generation", "chat", "gemini", "openai", "wide-characters"],
)
def test_a_training_file_surely_over_geminis_size_is_refused_by_validate(data: bytes) -> None:
    """Gemini takes a training file of at most 1 GB once converted; tune would find a file over
    it only after converting all of it. validate refuses a file whose converted size cannot be
    under the limit (a floor from its texts' characters), and only such a file."""
    report = validate(data, rules=msgspec.structs.replace(GEMINI, max_training_file_bytes=1))
    floor = floor_named(report)
    assert floor <= converted_size(data, report)
    at_floor = validate(data, rules=msgspec.structs.replace(GEMINI, max_training_file_bytes=floor))
    assert "gemini-size" not in rules_of(at_floor)
    under = validate(data, rules=msgspec.structs.replace(GEMINI, max_training_file_bytes=floor - 1))
    assert floor_named(under) == floor
    evaluation = validate(
        data,
        role=DatasetRole.EVALUATION,
        rules=msgspec.structs.replace(GEMINI, max_training_file_bytes=1),
    )
    assert "gemini-size" not in rules_of(evaluation)  # the limit is the training file's


def test_the_floor_is_exact_for_the_smallest_examples() -> None:
    """One character a text, two turns, no system text: nothing is added in conversion beyond
    what the floor counts, so a floor any higher would refuse a file Gemini takes."""
    data = dataset(
        [orjson.dumps({"input_text": chr(97 + i), "output_text": "b"}) for i in range(12)]
    )
    report = validate(data, rules=msgspec.structs.replace(GEMINI, max_training_file_bytes=1))
    assert floor_named(report) == converted_size(data, report)


def test_geminis_rules_carry_its_training_file_limit() -> None:
    assert GEMINI.max_training_file_bytes == 1024**3
    assert LEGACY_RULES.max_training_file_bytes is None
