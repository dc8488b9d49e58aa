"""The shape of a Gemini example, described once (codetune.dataset.gemini_format): the
stand-in's schema is its rendering, and the validator, the conversion check and the schema agree
on every line, faulty or not."""

from __future__ import annotations

import io
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from codetune.dataset import DatasetFormat, DatasetKind, SecretSeverity, validate_stream
from codetune.dataset import gemini_format as shape
from codetune.gemini.check import problems
from codetune.gemini.convert import convert_example
from codetune.local import gemini_schema
from codetune.local.vertex_standin import GEMINI_EXAMPLE
from codetune.tuning.backends import default_rules

GEMINI = default_rules()


def test_the_schema_file_is_the_descriptions_rendering() -> None:
    """After a change to gemini_format: `python -m codetune.local.gemini_schema`."""
    assert gemini_schema.PATH.read_text() == shape.schema_text()


def test_the_description_names_what_the_validator_reads() -> None:
    assert {"systemInstruction", "contents"} == shape.EXAMPLE_FIELDS  # tools: warned of
    assert {"role", "parts"} == shape.CONTENT_FIELDS
    assert shape.ROLES == ("user", "model")


def test_a_fault_names_its_field_as_a_report_does() -> None:
    example = {"contents": [{"role": "user", "parts": [{"text": " "}]}, {"parts": [7]}]}
    assert [(f.field, f.problem) for f in shape.faults(example)] == [
        ("contents[0].parts[0].text", "is blank"),
        ("contents[1].role", "is missing"),
        ("contents[1].parts[0]", "is not one text part or fileData part"),
    ]


texts = st.sampled_from(["Write the code in Python: f", "def f(): pass", "", " \n", "x"])
parts = st.one_of(
    st.fixed_dictionaries({"text": texts}),
    st.fixed_dictionaries({"text": st.sampled_from([3, None])}),
    st.just({"fileData": {"mimeType": "text/plain", "fileUri": "gs://b/o"}}),
    st.just({"text": "a", "fileData": {"mimeType": "text/plain", "fileUri": "gs://b/o"}}),
    st.just({"text": "a", "note": 1}),
    st.sampled_from(["p", {}, None]),
)
part_lists = st.one_of(st.lists(parts, min_size=1, max_size=2), st.sampled_from([[], "p", None]))
roles = st.sampled_from(["user", "model", "assistant", "system", "", 3])


@st.composite
def turn(draw: st.DrawFn, index: int) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from(["turn", [], None]))
    content: dict[str, Any] = {}
    if draw(st.integers(0, 8)):
        content["role"] = ("user", "model")[index % 2] if draw(st.booleans()) else draw(roles)
    if draw(st.integers(0, 8)):
        content["parts"] = [{"text": f"t{index}"}] if draw(st.booleans()) else draw(part_lists)
    if draw(st.integers(0, 10)) == 0:
        content["id"] = index
    return content


@st.composite
def examples(draw: st.DrawFn) -> dict[str, Any]:
    example: dict[str, Any] = {}
    if draw(st.integers(0, 12)):
        count = draw(st.integers(0, 4))
        example["contents"] = [draw(turn(i)) for i in range(count)]
        if draw(st.integers(0, 20)) == 0:
            example["contents"] = draw(st.sampled_from(["c", {}, None]))
    if draw(st.booleans()):
        system = {"parts": draw(part_lists)} if draw(st.integers(0, 6)) else draw(texts)
        if isinstance(system, dict) and draw(st.integers(0, 5)) == 0:
            system["role"] = draw(st.sampled_from(["system", 3]))
        example["systemInstruction"] = system
    if draw(st.integers(0, 10)) == 0:
        example[draw(st.sampled_from(["tools", "note"]))] = []
    return example


def line_errors(example: dict[str, Any]) -> list[str]:
    """The rules of the validator's errors on the line (a file of the one line)."""
    report = validate_stream(
        io.BytesIO(orjson.dumps(example) + b"\n"),
        "d",
        rules=GEMINI,
        format=DatasetFormat.GEMINI,
        secrets=SecretSeverity.OFF,
    )
    return [str(f.rule) for f in report.errors.listed if f.line is not None]


@settings(max_examples=400, deadline=None)
@given(examples())
def test_the_validator_the_conversion_check_and_googles_format_agree(
    example: dict[str, Any],
) -> None:
    errors = line_errors(example)
    shape_errors = [rule for rule in errors if rule != "chat-turns"]  # the order: not a shape
    # A field of no format the validator warns of or passes over (the conversion drops it),
    # but a fileData it refuses wherever it is.
    faults = [
        f
        for f in shape.faults(example)
        if "not a field" not in f.problem or f.path[-1] == shape.FILE_DATA
    ]
    assert bool(shape_errors) == bool(faults), (errors, faults)
    if errors:
        return
    # A line validate accepts converts to one the conversion check and Google's format accept.
    converted = convert_example(example, DatasetKind.CHAT, None, DatasetFormat.GEMINI)
    assert shape.faults(converted) == []
    assert problems(converted) == []
    assert list(GEMINI_EXAMPLE.iter_errors(converted)) == []
