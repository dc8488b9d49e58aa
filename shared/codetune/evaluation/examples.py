"""The examples an evaluation sends: the first N of the evaluation dataset's pinned copy, in
file order, each as the prompt Gemini answers and the reference the answers are scored against.

One reader for both sides: tune counts what it reads to plan the evaluation's tokens and cost,
and the evaluate function sends what it reads, so what is sent is what was counted.

**The first N examples in file order.** The pinned copy (the validated generation, byte for
byte the upload) is read from its first byte; every line that is not blank is an example (a
validated dataset holds nothing else), and an example's line is its 1-based line number in the
file, blank lines counted, as the validation report numbers lines. The examples sent are the
first N such lines, whatever they hold: no sampling, no sorting, nothing skipped.

**Prompt and reference.** Each example is converted exactly as the tuning job's validation
copy is (codetune.gemini.convert: the dataset's format and kind, and the job's default_context
as the system instruction of an example without a context of its own). Its last turn, a model
turn as validation requires, is the reference (its text parts joined, as Gemini's answers are
read); the turns before it, and the system instruction, are the prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.dataset import gemini_format as shape
from codetune.dataset.lines import ByteStream, read_lines
from codetune.dataset.rules import MAX_LINE_BYTES
from codetune.evaluation.plan import EvaluationPlan
from codetune.exceptions import InputError
from codetune.gemini.convert import convert_example


class Part(msgspec.Struct, frozen=True):
    text: str


class Content(msgspec.Struct, frozen=True, omit_defaults=True):
    """A turn (`role` user or model) or the system instruction (no role), as generateContent's
    Content (aiplatform v1)."""

    parts: tuple[Part, ...]
    role: str | None = None

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.parts)


class EvaluationExample(msgspec.Struct, frozen=True):
    """One evaluation example: where it is, what is asked, what is expected."""

    line: int  # its 1-based line in the evaluation dataset
    contents: tuple[Content, ...]  # the turns before the reference, opening and closing on user
    system_instruction: Content | None
    reference: str  # the last model turn's text

    def prompt(self) -> dict[str, Any]:
        """The request's `contents` and `systemInstruction` (generateContent's JSON names);
        the evaluate function adds the plan's `generationConfig`."""
        prompt: dict[str, Any] = {shape.CONTENTS: self.contents}
        if self.system_instruction is not None:
            prompt[shape.SYSTEM_INSTRUCTION] = self.system_instruction
        # JSON's own types (lists, not tuples), as a request body is sent
        return msgspec.json.decode(msgspec.json.encode(prompt), type=dict[str, Any])

    def prompt_texts(self) -> list[str]:
        """Every text the prompt sends, system instruction first: what its tokens are counted
        over (codetune.evaluation.cost.prompt_tokens)."""
        turns = (
            (self.system_instruction, *self.contents) if self.system_instruction else self.contents
        )
        return [part.text for turn in turns for part in turn.parts]


def read_examples(stream: ByteStream, plan: EvaluationPlan) -> Iterator[EvaluationExample]:
    """The plan's examples (its first `plan.examples`) from its pinned copy, opened at
    `plan.generation`, in file order. InputError names the line of one that is not a
    validated example (the copy was changed: nothing of it is sent)."""
    if plan.examples < 1:
        return
    form, kind = DatasetFormat(plan.format), DatasetKind(plan.kind)
    sent = 0
    for number, line in read_lines(stream, MAX_LINE_BYTES):
        if line is not None and not bytes(line).strip():
            continue
        yield _example(number, line, form, kind, plan.default_context)
        sent += 1
        if sent == plan.examples:
            return


def _example(
    number: int,
    line: bytes | memoryview | None,
    form: DatasetFormat,
    kind: DatasetKind,
    default_context: str | None,
) -> EvaluationExample:
    if line is None:
        raise InputError(f"evaluation line {number}: longer than {MAX_LINE_BYTES:,} bytes")
    try:
        converted = convert_example(orjson.loads(line), kind, default_context, form)
        turns = msgspec.convert(converted[shape.CONTENTS], tuple[Content, ...])
        system = converted.get(shape.SYSTEM_INSTRUCTION)
        instruction = None if system is None else Content(msgspec.convert(system, Content).parts)
    except (orjson.JSONDecodeError, msgspec.ValidationError, KeyError, TypeError, IndexError):
        raise InputError(f"evaluation line {number}: not a validated {form} example") from None
    if len(turns) < 2 or turns[-1].role != shape.MODEL:
        raise InputError(
            f"evaluation line {number}: no {shape.USER} turn before a closing {shape.MODEL} turn"
        )
    return EvaluationExample(number, turns[:-1], instruction, turns[-1].text)
