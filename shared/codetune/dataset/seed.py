"""Express a conversation of the Gemini or OpenAI format in the seed's code-chat format, for
the legacy code-bison pipeline, or say why it cannot be (codetune.dataset.rules: S-1).

    OpenAI: a first "system" message becomes the example's `context`; "user" and "assistant"
            become authors; "name" is dropped; "weight": 0 (a turn not to learn from) cannot be
            expressed: codechat-bison learns from every assistant turn.
    Gemini: the systemInstruction's text becomes the `context`; roles "user" and "model"
            become authors "user" and "assistant"; a turn's text parts are joined.
Input examples are those validate accepted in that format.
"""

from __future__ import annotations

from typing import Any

from codetune.dataset.rules import DatasetFormat


class Inexpressible(ValueError):
    """The example has what the seed format cannot say; the message says what."""


def to_seed_chat(example: dict[str, Any], format: DatasetFormat) -> dict[str, Any]:
    if format is DatasetFormat.OPENAI:
        messages = example["messages"]
        context = messages[0]["content"] if messages[0]["role"] == "system" else None
        turns = []
        for index, message in enumerate(messages):
            if message["role"] == "system":
                continue
            if message.get("weight") == 0:
                raise Inexpressible(
                    f"messages[{index}].weight is 0: codechat-bison learns from every "
                    "assistant turn, so a turn not to learn from cannot be expressed"
                )
            turns.append({"author": message["role"], "content": message["content"]})
    elif format is DatasetFormat.GEMINI:
        system = example.get("systemInstruction")
        context = "".join(p["text"] for p in system["parts"]) if system else None
        authors = {"user": "user", "model": "assistant"}
        turns = [
            {"author": authors[turn["role"]], "content": "".join(p["text"] for p in turn["parts"])}
            for turn in example["contents"]
        ]
    else:
        return example
    converted: dict[str, Any] = {"messages": turns}
    return {**converted, "context": context} if context else converted
