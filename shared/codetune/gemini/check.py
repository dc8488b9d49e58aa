"""Convert a validated dataset to Gemini's format and check the result against Gemini's rules,
in one streaming pass (constant memory)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import orjson

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole, Finding, Findings, Rule
from codetune.dataset.rules import estimate_tokens, token_weight
from codetune.gemini import models
from codetune.gemini.convert import convert_example


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
    """What makes a line not a Gemini text tuning example (roles, order, parts)."""
    found = []
    contents = example.get("contents")
    if not isinstance(contents, list) or not contents:
        return ["contents must be a non-empty array of turns"]
    roles = [turn.get("role") if isinstance(turn, dict) else None for turn in contents]
    if any(role not in ("user", "model") for role in roles):
        found.append("every turn's role is 'user' or 'model'")
    if roles[0] != "user" or roles[-1] != "model":
        found.append("turns open with 'user' and close with 'model'")
    if any(a == b for a, b in itertools.pairwise(roles)):
        found.append("turns alternate between 'user' and 'model'")
    for turn in [*contents, example.get("systemInstruction") or {"parts": [{"text": "-"}]}]:
        parts = turn.get("parts") if isinstance(turn, dict) else None
        if (
            not isinstance(parts, list)
            or not parts
            or not all(
                isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"].strip()
                for p in parts
            )
        ):
            found.append("every turn has text parts, none empty")
            break
    return found


def _tokens(example: dict[str, Any], count: Callable[[str], int]) -> int:
    turns = [*example["contents"], example.get("systemInstruction") or {"parts": []}]
    return sum(count(part.get("text", "")) for turn in turns for part in turn.get("parts", []))


def _weight(example: dict[str, Any]) -> int:
    turns = [*example["contents"], example.get("systemInstruction") or {"parts": []}]
    return sum(
        token_weight(part.get("text", "")) for turn in turns for part in turn.get("parts", [])
    )
