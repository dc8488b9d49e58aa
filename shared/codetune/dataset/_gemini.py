"""Gemini's format: `{"systemInstruction"?: {"parts"}, "contents": [{"role", "parts"}]}`, user
and model turns alternating to the model's answer, text parts only."""

from __future__ import annotations

from typing import Any

from codetune.dataset._fields import (
    check_turns,
    is_text,
    text_field,
    turn_list,
    turn_object,
    unknown_fields,
)
from codetune.dataset._formats import FormatChecker, holds_format
from codetune.dataset.rules import GEMINI_CONTENT_FIELDS, GEMINI_FIELDS, GEMINI_ROLES, Rule


class GeminiChat(FormatChecker):
    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        turns = example.get("contents")
        self.scan.conversation(
            number, data, example, len(turns) if type(turns) is list else 1, seed=False
        )
        if holds_format(self.state, number, example):
            self.detailed(number, example)

    def detailed(self, number: int, example: dict[str, Any]) -> None:
        state = self.state
        unknown_fields(state, number, example, GEMINI_FIELDS, "")
        system: str | None = None
        if "systemInstruction" in example:
            instruction = example["systemInstruction"]
            parts = instruction.get("parts") if isinstance(instruction, dict) else None
            texts = self._text_parts(number, parts, "systemInstruction.parts")
            if texts is None:
                return
            system = "".join(texts)
        contents = turn_list(state, number, example, "contents")
        if contents is None:
            return
        roles: list[str] = []
        texts_of_turns: list[str] = []
        for index, turn in enumerate(contents):
            where = f"contents[{index}]"
            if not turn_object(state, number, turn, where, "turn", GEMINI_CONTENT_FIELDS):
                continue
            role = text_field(state, number, turn, "role", where + ".role")
            texts = self._text_parts(number, turn.get("parts"), where + ".parts")
            if role is None or texts is None:
                continue
            if role not in GEMINI_ROLES:
                state.error(
                    Rule.CHAT_AUTHOR, "role must be 'user' or 'model'", number, where + ".role"
                )
                continue
            self.counts.author_field(number)
            self.counts.authors[role] += 1
            roles.append(role)
            texts_of_turns.append("".join(texts))
        self.counts.messages_per_example.add(len(contents))
        if len(roles) != len(contents):
            return
        if check_turns(state, number, roles, "user", "model", lambda i: f"contents[{i}].role"):
            self.measure.conversation(number, system, texts_of_turns)

    def _text_parts(self, number: int, parts: Any, where: str) -> list[str] | None:
        """The texts of a turn's parts; None (reported) if any is not a text part."""
        state = self.state
        if not isinstance(parts, list) or not parts:
            state.error(Rule.FORMAT, "parts must be a non-empty array of text parts", number, where)
            return None
        texts = []
        for index, part in enumerate(parts):
            place = f"{where}[{index}]"
            if isinstance(part, dict) and "fileData" in part:
                state.error(
                    Rule.FORMAT,
                    "a fileData part: codetune tunes text parts only",
                    number,
                    place + ".fileData",
                )
                return None
            text = part.get("text") if isinstance(part, dict) else None
            if not is_text(text):
                state.error(Rule.FORMAT, "a part holds a non-empty text", number, place + ".text")
                return None
            texts.append(text)
        return texts
