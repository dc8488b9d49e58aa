"""Every common dataset format in: the seed's code-bison formats, Gemini's own, OpenAI's chat
format. Detected per file (or forced), one format per file, each converted to Gemini's format
the same way, checked against the schema of Google's format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.gemini.convert import convert_example
from codetune.local.vertex_standin import GEMINI_EXAMPLE
from codetune.tuning.backends import default_rules
from tests.support import chat_dataset, dataset, generation, validate

GEMINI = default_rules()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def seed(system: str | None, turns: list[str]) -> dict[str, Any]:
    authors = ("user", "assistant")
    example: dict[str, Any] = {
        "messages": [{"author": authors[i % 2], "content": text} for i, text in enumerate(turns)]
    }
    return {**example, "context": system} if system else example


def openai(system: str | None, turns: list[str]) -> dict[str, Any]:
    roles = ("user", "assistant")
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return {"messages": messages}


def gemini(system: str | None, turns: list[str]) -> dict[str, Any]:
    roles = ("user", "model")
    example: dict[str, Any] = {
        "contents": [{"role": roles[i % 2], "parts": [{"text": t}]} for i, t in enumerate(turns)]
    }
    return {"systemInstruction": {"parts": [{"text": system}]}, **example} if system else example


FORMATS = {DatasetFormat.SEED: seed, DatasetFormat.OPENAI: openai, DatasetFormat.GEMINI: gemini}


def lines(encode: Any, count: int = 12, system: str | None = "You write Python.") -> bytes:
    return dataset(
        [
            orjson.dumps(encode(system, [f"Write the code in Python: f{i}", f"def f{i}(): pass"]))
            for i in range(count)
        ]
    )


def test_each_format_is_detected_and_named_in_the_report() -> None:
    for form, encode in FORMATS.items():
        report = validate(lines(encode), rules=GEMINI)
        assert report["valid"] and (report["format"], report["kind"]) == (str(form), "chat"), form


def test_the_shipped_examples_include_one_file_of_each_format() -> None:
    found = {
        validate(path.read_bytes(), rules=GEMINI)["format"] for path in EXAMPLES.glob("*.jsonl")
    }
    assert found == {"seed", "gemini", "openai"}


def test_googles_documented_gemini_lines_are_a_valid_gemini_dataset() -> None:
    example = (FIXTURES / "gemini-documented-examples.jsonl").read_bytes()
    report = validate(example * 12, rules=GEMINI)
    assert report["valid"] and report["format"] == "gemini"


def test_a_line_in_another_format_is_an_error_naming_it() -> None:
    data = lines(openai).splitlines()
    data[3] = orjson.dumps(gemini(None, ["a", "b"]))
    data[5] = generation(5)
    report = validate(dataset(data), rules=GEMINI)
    assert [(e["rule"], e["line"]) for e in report["errors"]] == [("S-1", 4), ("S-1", 6)]
    assert "gemini format" in report["errors"][0]["message"]


def test_a_forced_format_holds_every_line_to_it() -> None:
    report = validate(lines(openai), format=DatasetFormat.GEMINI, rules=GEMINI)
    assert not report["valid"] and report["errors"][0]["line"] == 1


def test_faults_name_the_line_the_field_and_the_rule() -> None:
    bad = [
        openai(None, ["a"])
        | {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": "b"},
            ]
        },
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "b"}]},
    ]
    data = dataset([orjson.dumps(openai("s", ["x", "y"])), *map(orjson.dumps, bad)] * 3)
    report = validate(data, rules=GEMINI)
    assert [(e["line"], e["field"], e["rule"]) for e in report["errors"][:3]] == [
        (2, "messages[1].role", "chat-turns"),
        (3, "messages[1].role", "chat-turns"),
        (4, "messages[0].content", "S-1"),
    ]
    parts = gemini(None, ["a", "b"])
    parts["contents"][1]["parts"] = [
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/i.png"}}
    ]
    report = validate(dataset([orjson.dumps(parts)] * 12), rules=GEMINI)
    assert report["errors"][0]["field"] == "contents[1].parts[0].fileData"


def test_the_legacy_rules_still_refuse_chat_evaluation_in_any_format() -> None:
    from codetune.dataset import DatasetRole

    report = validate(lines(openai), role=DatasetRole.EVALUATION)
    assert "S-6" in {e["rule"] for e in report["errors"]}


texts = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30).filter(
    lambda s: not s.isspace()
)


@settings(max_examples=150, deadline=None)
@given(
    system=st.none() | texts,
    pairs=st.lists(st.tuples(texts, texts), min_size=1, max_size=4),
)
def test_every_format_converts_to_the_same_gemini_example_in_googles_format(
    system: str | None, pairs: list[tuple[str, str]]
) -> None:
    turns = [text for pair in pairs for text in pair]
    converted = [
        convert_example(
            orjson.loads(orjson.dumps(encode(system, turns))), DatasetKind.CHAT, None, form
        )
        for form, encode in FORMATS.items()
    ]
    assert converted[0] == converted[1]  # seed and OpenAI: the same example
    assert converted[2]["contents"] == converted[0]["contents"]  # Gemini's passes through
    for example in converted:
        assert list(GEMINI_EXAMPLE.iter_errors(example)) == []
        roles = [turn["role"] for turn in example["contents"]]
        assert roles == ["user", "model"] * len(pairs)
        assert [p["text"] for turn in example["contents"] for p in turn["parts"]] == turns
        assert (example.get("systemInstruction") or {"parts": [{"text": None}]})["parts"][0][
            "text"
        ] == system


def test_a_default_context_fills_a_missing_system_instruction_in_every_format() -> None:
    for form, encode in FORMATS.items():
        example = convert_example(encode(None, ["q", "a"]), DatasetKind.CHAT, "Be brief.", form)
        assert example["systemInstruction"]["parts"][0]["text"] == "Be brief.", form


def test_seed_chat_datasets_are_unchanged_by_format_detection() -> None:
    assert validate(dataset(chat_dataset(12)))["format"] == "seed"


@settings(max_examples=150, deadline=None)
@given(
    system=st.none() | texts,
    pairs=st.lists(st.tuples(texts, texts), min_size=1, max_size=4),
)
def test_openai_and_gemini_conversations_come_back_to_the_same_seed_example(
    system: str | None, pairs: list[tuple[str, str]]
) -> None:
    from codetune.dataset.seed import to_seed_chat

    turns = [text for pair in pairs for text in pair]
    original = seed(system, turns)
    for form in (DatasetFormat.OPENAI, DatasetFormat.GEMINI):
        assert to_seed_chat(FORMATS[form](system, turns), form) == original, form


def test_a_given_kind_still_takes_the_format_from_the_first_example() -> None:
    """With the kind given, well-formed generation lines once skipped format detection, so a
    Gemini line further down became the file's format and every generation line after it an
    error."""
    data = [generation(i) for i in range(12)]
    data[4] = orjson.dumps(gemini(None, ["a", "b"]))
    report = validate(dataset(data), kind=DatasetKind.GENERATION, rules=GEMINI)
    assert (report["format"], report["kind"]) == ("seed", "generation")
    assert [(e["rule"], e["line"]) for e in report["errors"]] == [("S-1", 5)]
    assert "detected on line 1" in report["errors"][0]["message"]


def test_fields_gemini_does_not_have_are_warned_of_and_never_reach_vertex_ai() -> None:
    """validate accepts a Gemini line with a field of no format (a warning); the conversion
    passed it through, and Google's format refuses it: the job failed hours later."""
    example = gemini("Be brief.", ["Write the code in Python: f", "def f(): pass"])
    example["note"] = "drafted by hand"
    example["systemInstruction"]["source"] = "style guide"
    example["contents"][0]["id"] = 7
    example["contents"][1]["parts"][0]["lang"] = "python"
    report = validate(dataset([orjson.dumps(example)] * 12), rules=GEMINI)
    assert report["valid"] and "unknown-field" in {w["rule"] for w in report["warnings"]}
    converted = convert_example(example, DatasetKind.CHAT, None, DatasetFormat.GEMINI)
    assert list(GEMINI_EXAMPLE.iter_errors(converted)) == []
    assert converted == gemini("Be brief.", ["Write the code in Python: f", "def f(): pass"])


def test_a_role_in_another_formats_name_says_what_was_found_and_the_fix() -> None:
    data = lines(openai).splitlines()
    turns = orjson.loads(data[3])
    turns["messages"][2]["role"] = "model"  # Gemini's name for the assistant
    data[3] = orjson.dumps(turns)
    report = validate(dataset(data), rules=GEMINI)
    assert [(e["line"], e["field"], e["rule"], e["message"]) for e in report["errors"]] == [
        (
            4,
            "messages[2].role",
            "chat-author",
            "role must be 'system', 'user' or 'assistant': found 'model' (Gemini's name); "
            "OpenAI's format names it 'assistant'",
        )
    ]
    data = lines(gemini).splitlines()
    turns = orjson.loads(data[6])
    turns["contents"][1]["role"] = "assistant"
    data[6] = orjson.dumps(turns)
    report = validate(dataset(data), rules=GEMINI)
    assert [(e["line"], e["field"], e["rule"], e["message"]) for e in report["errors"]] == [
        (
            7,
            "contents[1].role",
            "chat-author",
            "role must be 'user' or 'model': found 'assistant' (OpenAI's and the seed's name); "
            "Gemini's format names it 'model'",
        )
    ]
    # Any other role is not quoted: it may be anything.
    turns["contents"][1]["role"] = "bot"
    data[6] = orjson.dumps(turns)
    [error] = validate(dataset(data), rules=GEMINI)["errors"]
    assert error["message"] == "role must be 'user' or 'model'"


def test_an_assistant_turn_of_weight_0_is_an_error_for_gemini() -> None:
    """Gemini tuning has no per-turn weight: the conversion drops it, and the job would train on
    the turn the file says not to train on."""
    data = lines(openai, system=None).splitlines()
    example = openai(None, ["Write the code in Python: f", "def f(): ...", "Faster?", "def f(): 1"])
    example["messages"][1]["weight"] = 1
    example["messages"][3]["weight"] = 0
    data[2] = orjson.dumps(example)
    report = validate(dataset(data), rules=GEMINI)
    assert [(e["line"], e["field"], e["rule"], e["message"]) for e in report["errors"]] == [
        (
            3,
            "messages[3].weight",
            "gemini-format",
            "weight 0 says not to train on this turn, but Gemini tuning has no per-turn weight "
            "and would train on it: remove the turn or its weight",
        )
    ]
    example["messages"][3]["weight"] = 1
    data[2] = orjson.dumps(example)
    assert validate(dataset(data), rules=GEMINI)["valid"]
