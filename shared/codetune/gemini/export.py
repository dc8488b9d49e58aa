"""Gemini's tuning format to OpenAI's chat format or the seed's (`codetune convert --to`).

Every format goes to Gemini's first, as tune converts it (codetune.gemini.convert); from there:
a system instruction becomes OpenAI's "system" message or a seed chat's `context`, "model"
turns become "assistant", and a turn's text parts are joined (Gemini reads them as one text).
A code-generation dataset in the seed format stays `input_text` / `output_text`.
"""

from __future__ import annotations

from typing import Any

from codetune.dataset import DatasetFormat, DatasetKind


class NotExpressible(ValueError):
    """An example the target format has no place for."""


def _text(content: dict[str, Any]) -> str:
    return "".join(str(part.get("text", "")) for part in content.get("parts", []))


def _role(turn: dict[str, Any]) -> str:
    return "assistant" if turn["role"] == "model" else "user"


def from_gemini(example: dict[str, Any], to: DatasetFormat, kind: DatasetKind) -> dict[str, Any]:
    """One converted example in the format `to`."""
    system = example.get("systemInstruction")
    contents = example["contents"]
    if to is DatasetFormat.GEMINI:
        return example
    if to is DatasetFormat.OPENAI:
        head = [{"role": "system", "content": _text(system)}] if system else []
        return {"messages": head + [{"role": _role(t), "content": _text(t)} for t in contents]}
    if kind is DatasetKind.GENERATION:
        if system:
            raise NotExpressible("a seed code-generation example has no context to hold it")
        return {"input_text": _text(contents[0]), "output_text": _text(contents[1])}
    chat: dict[str, Any] = {
        "messages": [{"author": _role(t), "content": _text(t)} for t in contents]
    }
    return {"context": _text(system), **chat} if system else chat
