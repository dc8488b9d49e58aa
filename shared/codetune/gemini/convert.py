"""Convert examples of every accepted format to Gemini's tuning format.

Gemini's dataset lines (Vertex AI, "Prepare supervised tuning data"):
    {"systemInstruction": {"role": "system", "parts": [{"text": ...}]},
     "contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [...]}]}
Code generation: input_text is the user turn, output_text the model's. Code chat: author
"user" stays "user", "assistant" becomes "model"; the example's `context`, or else the job's
`default_context`, becomes the system instruction. OpenAI's format: a "system" message becomes
the system instruction, "user" stays "user", "assistant" becomes "model" (name and weight are
dropped). Gemini's format keeps its roles and text parts, and nothing else: validate warns of
any other field, and Vertex AI refuses one (a default_context fills a missing system
instruction). Input lines are those validate accepted.
"""

from __future__ import annotations

from typing import Any

from codetune.dataset import DatasetFormat, DatasetKind

ROLES = {"user": "user", "assistant": "model"}  # seed authors and OpenAI roles alike


def _turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"text": text}]}


def _content(content: dict[str, Any]) -> dict[str, Any]:
    """A Gemini turn (or system instruction) with only its role and text parts."""
    parts = {"parts": [{"text": part["text"]} for part in content["parts"]]}
    role = content.get("role")
    return {"role": role, **parts} if isinstance(role, str) else parts


def convert_example(
    example: dict[str, Any],
    kind: DatasetKind,
    default_context: str | None,
    format: DatasetFormat = DatasetFormat.SEED,
) -> dict[str, Any]:
    if format is DatasetFormat.GEMINI:
        converted: dict[str, Any] = {"contents": [_content(t) for t in example["contents"]]}
        system = example.get("systemInstruction")
        if system is not None:
            system = _content(system)
        elif default_context:
            system = {"role": "system", "parts": [{"text": default_context}]}
        return converted if system is None else {"systemInstruction": system, **converted}
    if format is DatasetFormat.OPENAI:
        messages = example["messages"]
        context = messages[0]["content"] if messages[0]["role"] == "system" else default_context
        converted = {
            "contents": [
                _turn(ROLES[m["role"]], m["content"]) for m in messages if m["role"] != "system"
            ]
        }
    elif kind is DatasetKind.GENERATION:
        converted = {
            "contents": [
                _turn("user", example["input_text"]),
                _turn("model", example["output_text"]),
            ]
        }
        context = default_context
    else:
        converted = {
            "contents": [_turn(ROLES[m["author"]], m["content"]) for m in example["messages"]]
        }
        context = example.get("context") or default_context
    if context:
        converted = {
            "systemInstruction": {"role": "system", "parts": [{"text": context}]},
            **converted,
        }
    return converted
