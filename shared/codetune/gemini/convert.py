"""Convert examples of every accepted format to Gemini's tuning format.

Gemini's dataset lines (Vertex AI, "Prepare supervised tuning data"):
    {"systemInstruction": {"role": "system", "parts": [{"text": ...}]},
     "contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [...]}]}
Code generation: input_text is the user turn, output_text the model's. Code chat: author
"user" stays "user", "assistant" becomes "model"; the example's `context`, or else the job's
`default_context`, becomes the system instruction. OpenAI's format: a "system" message becomes
the system instruction, "user" stays "user", "assistant" becomes "model" (name and weight are
dropped: Gemini has neither, and validate refuses a turn of weight 0, which Gemini would train
on). Gemini's format keeps its roles and text parts, and nothing else: validate warns of any
other field, and Vertex AI refuses one (a default_context fills a missing system instruction).
Input lines are those validate accepted.
"""

from __future__ import annotations

from typing import Any

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.dataset import gemini_format as shape

ROLES = {"user": shape.USER, "assistant": shape.MODEL}  # seed authors and OpenAI roles alike


def _turn(role: str, text: str) -> dict[str, Any]:
    return {shape.ROLE: role, shape.PARTS: [{shape.TEXT: text}]}


def _content(content: dict[str, Any]) -> dict[str, Any]:
    """A Gemini turn (or system instruction) with only its role and text parts."""
    parts = {shape.PARTS: [{shape.TEXT: part[shape.TEXT]} for part in content[shape.PARTS]]}
    role = content.get(shape.ROLE)
    return {shape.ROLE: role, **parts} if isinstance(role, str) else parts


def _system(text: str) -> dict[str, Any]:
    return {shape.ROLE: "system", shape.PARTS: [{shape.TEXT: text}]}


def convert_example(
    example: dict[str, Any],
    kind: DatasetKind,
    default_context: str | None,
    format: DatasetFormat = DatasetFormat.SEED,
) -> dict[str, Any]:
    if format is DatasetFormat.GEMINI:
        converted = {shape.CONTENTS: [_content(turn) for turn in example[shape.CONTENTS]]}
        system = example.get(shape.SYSTEM_INSTRUCTION)
        if system is not None:
            system = _content(system)
        elif default_context:
            system = _system(default_context)
        return converted if system is None else {shape.SYSTEM_INSTRUCTION: system, **converted}
    if format is DatasetFormat.OPENAI:
        messages = example["messages"]
        context = messages[0]["content"] if messages[0]["role"] == "system" else default_context
        turns = [_turn(ROLES[m["role"]], m["content"]) for m in messages if m["role"] != "system"]
    elif kind is DatasetKind.GENERATION:
        turns = [
            _turn(shape.USER, example["input_text"]),
            _turn(shape.MODEL, example["output_text"]),
        ]
        context = default_context
    else:
        turns = [_turn(ROLES[m["author"]], m["content"]) for m in example["messages"]]
        context = example.get("context") or default_context
    converted = {shape.CONTENTS: turns}
    return {shape.SYSTEM_INSTRUCTION: _system(context), **converted} if context else converted
