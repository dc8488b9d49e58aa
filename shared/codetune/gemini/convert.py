"""Convert code-bison and codechat-bison examples to Gemini's tuning format.

Gemini's dataset lines (Vertex AI, "Prepare supervised tuning data"):
    {"systemInstruction": {"role": "system", "parts": [{"text": ...}]},
     "contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [...]}]}
Code generation: input_text is the user turn, output_text the model's. Code chat: author
"user" stays "user", "assistant" becomes "model"; the example's `context`, or else the job's
`default_context`, becomes the system instruction. Input lines are those validate accepted.
"""

from __future__ import annotations

from typing import Any

from codetune.dataset import DatasetKind

ROLES = {"user": "user", "assistant": "model"}


def _turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"text": text}]}


def convert_example(
    example: dict[str, Any], kind: DatasetKind, default_context: str | None
) -> dict[str, Any]:
    if kind is DatasetKind.GENERATION:
        converted: dict[str, Any] = {
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
