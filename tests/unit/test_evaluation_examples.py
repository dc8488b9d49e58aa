"""The evaluation's examples (codetune.evaluation.examples): the first N of the pinned copy in
file order, each prompt converted as the job's validation copy is, the last model turn the
reference, and the prompt a valid part of Google's GenerateContentRequest."""

from __future__ import annotations

import io
from typing import Any

import jsonschema
import orjson
import pytest

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole
from codetune.evaluation.examples import EvaluationExample, read_examples
from codetune.evaluation.plan import EvaluationPlan
from codetune.exceptions import InputError
from codetune.gemini.check import convert_and_check
from codetune.local.discovery import json_schema
from tests.support import chat, dataset, generation

REQUEST = jsonschema.Draft202012Validator(
    json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1GenerateContentRequest", request=True)
)
CONTEXT = "Answer with one Python function, in a fenced block."


def plan(
    examples: int,
    form: DatasetFormat = DatasetFormat.SEED,
    kind: DatasetKind = DatasetKind.GENERATION,
    default_context: str | None = None,
) -> EvaluationPlan:
    return EvaluationPlan(
        dataset="gs://drop/incoming/a.eval.jsonl",
        pinned="gs://drop-state/_codetune/pinned/incoming/a.eval.jsonl/7",
        format=str(form),
        examples=examples,
        available=99,
        generation="7",
        kind=str(kind),
        default_context=default_context,
    )


def read(data: bytes, evaluation: EvaluationPlan) -> list[EvaluationExample]:
    return list(read_examples(io.BytesIO(data), evaluation))


def test_the_first_examples_in_file_order_numbered_by_their_lines() -> None:
    """Blank lines are not examples but count as lines; nothing past the N-th is read."""
    data = b"\n".join([generation(1), generation(2), b"   ", generation(3), generation(4)])
    assert [e.line for e in read(data, plan(3))] == [1, 2, 4]
    assert [e.line for e in read(data, plan(2))] == [1, 2]
    assert [e.line for e in read(data, plan(9))] == [1, 2, 4, 5]
    assert read(data, plan(0)) == []
    # Past the N-th example the file is not looked at: a broken line after it is never read.
    assert [e.line for e in read(data + b"\n{broken", plan(4))] == [1, 2, 4, 5]


def test_a_generation_examples_prompt_is_its_input_and_its_reference_the_output() -> None:
    [example] = read(generation(5), plan(1))
    source = orjson.loads(generation(5))
    assert example.prompt() == {
        "contents": [{"role": "user", "parts": [{"text": source["input_text"]}]}]
    }
    assert example.reference == source["output_text"]
    with_context = read(generation(5), plan(1, default_context=CONTEXT))[0]
    assert with_context.prompt()["systemInstruction"] == {"parts": [{"text": CONTEXT}]}
    assert with_context.prompt_texts() == [CONTEXT, source["input_text"]]


def test_a_conversations_prompt_is_every_turn_before_the_last_answer() -> None:
    turns = [
        {"author": "user", "content": "Write f."},
        {"author": "assistant", "content": "def f(): pass"},
        {"author": "user", "content": "Now with a docstring."},
        {"author": "assistant", "content": 'def f():\n    """F."""'},
    ]
    line = orjson.dumps({"context": "You write Python.", "messages": turns})
    [example] = read(line, plan(1, kind=DatasetKind.CHAT, default_context=CONTEXT))
    assert [(c.role, c.text) for c in example.contents] == [
        ("user", "Write f."),
        ("model", "def f(): pass"),
        ("user", "Now with a docstring."),
    ]
    assert example.reference == 'def f():\n    """F."""'
    # The example's own context, not the job's default.
    assert example.system_instruction is not None
    assert example.system_instruction.text == "You write Python."


def test_gemini_examples_keep_their_turns_and_parts_and_drop_what_is_not_sent() -> None:
    line = orjson.dumps(
        {
            "systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Write "}, {"text": "g."}]},
                {"role": "model", "parts": [{"text": "def g():"}, {"text": " return 1"}]},
            ],
            "tools": [],
        }
    )
    [example] = read(line, plan(1, DatasetFormat.GEMINI, DatasetKind.CHAT))
    assert example.prompt() == {
        "contents": [{"role": "user", "parts": [{"text": "Write "}, {"text": "g."}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    assert example.reference == "def g(): return 1"  # the parts joined, as answers are read


def openai(index: int) -> bytes:
    return orjson.dumps(
        {
            "messages": [
                {"role": "system", "content": "You write Go."},
                {"role": "user", "content": f"Write f{index}."},
                {"role": "assistant", "content": f"func f{index}() {{}}"},
            ]
        }
    )


CASES = [
    (DatasetFormat.SEED, DatasetKind.GENERATION, [generation(i) for i in range(4)]),
    (DatasetFormat.SEED, DatasetKind.CHAT, [chat(i) for i in range(4)]),
    (DatasetFormat.OPENAI, DatasetKind.CHAT, [openai(i) for i in range(4)]),
]


@pytest.mark.parametrize(("form", "kind", "lines"), CASES)
@pytest.mark.parametrize("context", [None, CONTEXT])
def test_each_prompt_is_the_validation_copys_example_but_its_last_turn(
    form: DatasetFormat, kind: DatasetKind, lines: list[bytes], context: str | None
) -> None:
    """What the job's validation copy holds (codetune.gemini.check, as tune writes it) is
    what the evaluation asks, less the answer it is scored against."""
    written: list[bytes] = []
    convert_and_check(lines, written.append, kind, DatasetRole.EVALUATION, context, format=form)
    copy = [orjson.loads(line) for line in written]
    examples = read(dataset(lines), plan(len(lines), form, kind, context))
    assert len(examples) == len(copy)
    for example, converted in zip(examples, copy, strict=True):
        prompt = example.prompt()
        assert prompt["contents"] == converted["contents"][:-1]
        assert example.reference == converted["contents"][-1]["parts"][0]["text"]
        system = converted.get("systemInstruction")
        assert prompt.get("systemInstruction") == (
            None if system is None else {"parts": system["parts"]}
        )
        request: dict[str, Any] = {
            **prompt,
            "generationConfig": {"temperature": 0.0, "maxOutputTokens": 1024},
        }
        REQUEST.validate(request)


def test_the_system_instruction_goes_without_the_system_role_and_the_schema_sees_faults() -> None:
    """Content.role "must be either 'user' or 'model'" (aiplatform v1): the conversion's
    "system" role stays out of the request."""
    [example] = read(generation(1), plan(1, default_context=CONTEXT))
    prompt = example.prompt()
    assert "role" not in prompt["systemInstruction"]
    REQUEST.validate(prompt)
    with pytest.raises(jsonschema.ValidationError):
        REQUEST.validate({**prompt, "system_instruction": prompt["systemInstruction"]})
    with pytest.raises(jsonschema.ValidationError):
        REQUEST.validate({"contents": [{"role": "user", "parts": [{"txt": "x"}]}]})


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"{broken", "not a validated seed example"),
        (b'{"input_text": "x"}', "not a validated seed example"),
        (orjson.dumps({"messages": [{"author": "user", "content": "x"}]}), "closing model"),
    ],
)
def test_a_line_that_is_not_a_validated_example_is_named(line: bytes, why: str) -> None:
    chats = b"messages" in line
    kind = DatasetKind.CHAT if chats else DatasetKind.GENERATION
    first = chat(1) if chats else generation(1)
    with pytest.raises(InputError, match=f"evaluation line 2: .*{why}"):
        read(dataset([first, line]), plan(2, kind=kind))
