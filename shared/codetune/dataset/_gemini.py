"""Gemini's format (codetune.dataset.gemini_format, its one description): user and model turns
alternating to the model's answer, an optional system instruction, text parts only."""

from __future__ import annotations

from typing import Any

from codetune.dataset import gemini_format as shape
from codetune.dataset._fields import (
    check_turns,
    is_text,
    text_field,
    turn_list,
    turn_object,
    unknown_fields,
    wrong_role,
)
from codetune.dataset._formats import FormatChecker, holds_format
from codetune.dataset.rules import Rule

_ROLES = " or ".join(f"'{role}'" for role in shape.ROLES)
# Another format's name for one of Gemini's roles: the fix is the name.
_NAMED_ELSEWHERE = {"assistant": ("OpenAI's and the seed's", shape.MODEL)}


def _wrong_role(role: str) -> str:
    return wrong_role(role, _ROLES, "Gemini's", _NAMED_ELSEWHERE)


class GeminiChat(FormatChecker):
    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        turns = example.get(shape.CONTENTS)
        self.scan.conversation(
            number, data, example, len(turns) if type(turns) is list else 1, seed=False
        )
        if holds_format(self.state, number, example):
            self.detailed(number, example)

    def detailed(self, number: int, example: dict[str, Any]) -> None:
        state = self.state
        unknown_fields(state, number, example, shape.EXAMPLE_FIELDS, "")
        system: str | None = None
        if shape.SYSTEM_INSTRUCTION in example:
            instruction = example[shape.SYSTEM_INSTRUCTION]
            parts = instruction.get(shape.PARTS) if isinstance(instruction, dict) else None
            texts = self._text_parts(number, parts, f"{shape.SYSTEM_INSTRUCTION}.{shape.PARTS}")
            if texts is None:
                return
            system = "".join(texts)
        contents = turn_list(state, number, example, shape.CONTENTS)
        if contents is None:
            return
        turns = self._turns(number, contents)
        self.counts.messages_per_example.add(len(contents))
        if turns is None:
            return
        roles, texts_of_turns = turns
        if check_turns(
            state, number, roles, shape.USER, shape.MODEL, lambda i: f"{shape.CONTENTS}[{i}].role"
        ):
            self.measure.conversation(number, system, texts_of_turns)

    def _turns(self, number: int, contents: list[Any]) -> tuple[list[str], list[str]] | None:
        """The roles and texts of well-formed turns; None when any is not (reported)."""
        state, counts = self.state, self.counts
        roles: list[str] = []
        texts_of_turns: list[str] = []
        for index, turn in enumerate(contents):
            where = f"{shape.CONTENTS}[{index}]"
            if not turn_object(state, number, turn, where, "turn", shape.CONTENT_FIELDS):
                continue
            role = text_field(state, number, turn, shape.ROLE, f"{where}.{shape.ROLE}")
            texts = self._text_parts(number, turn.get(shape.PARTS), f"{where}.{shape.PARTS}")
            if role is None or texts is None:
                continue
            if role not in shape.ROLES:
                state.error(Rule.CHAT_AUTHOR, _wrong_role(role), number, f"{where}.{shape.ROLE}")
                continue
            counts.author_field(number)
            counts.authors[role] += 1
            roles.append(role)
            texts_of_turns.append("".join(texts))
        return (roles, texts_of_turns) if len(roles) == len(contents) else None

    def _text_parts(self, number: int, parts: Any, where: str) -> list[str] | None:
        """The texts of a turn's parts; None (reported) if any is not a text part."""
        state = self.state
        if not isinstance(parts, list) or not parts:
            state.error(Rule.FORMAT, "parts must be a non-empty array of text parts", number, where)
            return None
        texts = []
        for index, part in enumerate(parts):
            place = f"{where}[{index}]"
            if isinstance(part, dict) and shape.FILE_DATA in part:
                state.error(
                    Rule.FORMAT,
                    "a fileData part: codetune tunes text parts only",
                    number,
                    f"{place}.{shape.FILE_DATA}",
                )
                return None
            text = part.get(shape.TEXT) if isinstance(part, dict) else None
            if not is_text(text):
                state.error(
                    Rule.FORMAT, "a part holds a non-empty text", number, f"{place}.{shape.TEXT}"
                )
                return None
            texts.append(text)
        return texts
