"""Convert a validated dataset to Gemini's format and check the result against Gemini's rules,
in one streaming pass (constant memory)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import orjson

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole, Finding, Findings, Rule
from codetune.dataset import gemini_format as shape
from codetune.dataset.rules import estimate_tokens, token_weight
from codetune.gemini import models
from codetune.gemini.convert import convert_example

_ROLES = " or ".join(f"'{role}'" for role in shape.ROLES)


class GeminiDataset(msgspec.Struct):
    examples: int = 0
    bytes_written: int = 0
    # Estimated tokens of everything written (system instructions, contexts, every turn): what
    # one epoch trains on, and is billed for.
    tokens: int = 0
    errors: Findings = msgspec.field(default_factory=Findings)

    @property
    def valid(self) -> bool:
        return not self.errors


def convert_and_check(
    lines: Iterable[bytes | memoryview],
    write: Callable[[bytes], object],
    kind: DatasetKind,
    role: DatasetRole,
    default_context: str | None = None,
    model: models.GeminiModel | None = None,
    format: DatasetFormat = DatasetFormat.SEED,
    count: Callable[[str], int] | None = None,
) -> GeminiDataset:
    """Convert each line (as validate accepted it), write it, and check it as Gemini will.
    `count` is the deployment's tokenizer, the estimate without one."""
    model = model or models.GEMINI_MODELS[models.DEFAULT_MODEL]
    result = GeminiDataset()
    for number, line in enumerate(lines, start=1):
        if not bytes(line).strip():
            continue
        converted = convert_example(orjson.loads(line), kind, default_context, format)
        for problem in problems(converted):
            result.errors.add(Finding(Rule.GEMINI_FORMAT, problem, number))
        tokens = _tokens(converted, count) if count else estimate_tokens(_weight(converted))
        result.tokens += tokens
        if tokens > model.max_tokens_per_example:
            result.errors.add(
                Finding(
                    Rule.GEMINI_TOKENS,
                    f"about {tokens:,} tokens (estimated); Gemini takes "
                    f"{model.max_tokens_per_example:,} per example",
                    number,
                )
            )
        data = orjson.dumps(converted) + b"\n"
        write(data)
        result.examples += 1
        result.bytes_written += len(data)
    limit = (
        model.max_validation_examples
        if role is DatasetRole.EVALUATION
        else model.max_training_examples
    )
    if result.examples > limit:
        result.errors.add(
            Finding(
                Rule.GEMINI_SIZE, f"{result.examples:,} examples; Gemini takes at most {limit:,}"
            )
        )
    if result.bytes_written > model.max_training_file_bytes:
        result.errors.add(
            Finding(
                Rule.GEMINI_SIZE,
                f"{result.bytes_written:,} bytes once converted; Gemini takes {model.max_training_file_bytes:,}",
            )
        )
    return result


def problems(example: dict[str, Any]) -> list[str]:
    """What makes a line not a Gemini text tuning example: the faults of its shape (codetune's
    Gemini format, codetune.dataset.gemini_format), and the order of its turns."""
    found = shape.faults(example)
    if any(fault.path == (shape.CONTENTS,) for fault in found):
        return [f"{shape.CONTENTS} must be a non-empty array of turns"]
    listed = []
    if any(_of_turn(fault, shape.ROLE) for fault in found):
        listed.append(f"every turn's role is {_ROLES}")
    roles = [t.get(shape.ROLE) if isinstance(t, dict) else None for t in example[shape.CONTENTS]]
    if roles[0] != shape.USER or roles[-1] != shape.MODEL:
        listed.append(f"turns open with '{shape.USER}' and close with '{shape.MODEL}'")
    if any(a == b for a, b in itertools.pairwise(roles)):
        listed.append(f"turns alternate between '{shape.USER}' and '{shape.MODEL}'")
    if any(_of_turn(fault, shape.PARTS) for fault in found):
        listed.append("every turn has text parts, none empty")
    listed += [
        f"{fault.field} {fault.problem}"
        for fault in found
        if not (_of_turn(fault, shape.ROLE) or _of_turn(fault, shape.PARTS))
    ]
    return listed


def _of_turn(fault: shape.Fault, field: str) -> bool:
    """Whether the fault is in that field of a turn (for parts, of the system instruction too),
    or is the turn's own (not an object: it has neither)."""
    path = fault.path
    if path[:1] == (shape.CONTENTS,) and len(path) > 1:
        rest = path[2:3]
    elif path[:1] == (shape.SYSTEM_INSTRUCTION,) and field == shape.PARTS:
        rest = path[1:2]
    else:
        return False
    return rest in ((), (field,))


def _texts(example: dict[str, Any]) -> list[str]:
    turns = [*example[shape.CONTENTS], example.get(shape.SYSTEM_INSTRUCTION) or {}]
    return [part.get(shape.TEXT, "") for turn in turns for part in turn.get(shape.PARTS, [])]


def _tokens(example: dict[str, Any], count: Callable[[str], int]) -> int:
    return sum(count(text) for text in _texts(example))


def _weight(example: dict[str, Any]) -> int:
    return sum(token_weight(text) for text in _texts(example))
