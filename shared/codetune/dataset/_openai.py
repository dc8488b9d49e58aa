"""OpenAI's chat fine-tuning format: `{"messages": [{"role", "content", "name"?, "weight"?}]}`,
a system message first if any, then user and assistant turns alternating to the answer."""

from __future__ import annotations

from typing import Any

from codetune.dataset import gemini_format as shape
from codetune.dataset._fields import (
    check_turns,
    text_field,
    turn_list,
    turn_object,
    unknown_fields,
    wrong_role,
)
from codetune.dataset._formats import FormatChecker, holds_format
from codetune.dataset.rules import OPENAI_FIELDS, OPENAI_MESSAGE_FIELDS, OPENAI_ROLES, Rule

# Another format's name for one of OpenAI's roles: the fix is the name.
_NAMED_ELSEWHERE = {shape.MODEL: ("Gemini's", "assistant")}


def _wrong_role(role: str) -> str:
    return wrong_role(role, "'system', 'user' or 'assistant'", "OpenAI's", _NAMED_ELSEWHERE)


class OpenAIChat(FormatChecker):
    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        turns = example.get("messages")
        self.scan.conversation(
            number, data, example, len(turns) if type(turns) is list else 1, seed=False
        )
        if holds_format(self.state, number, example):
            self.detailed(number, example)

    def detailed(self, number: int, example: dict[str, Any]) -> None:
        state = self.state
        unknown_fields(state, number, example, OPENAI_FIELDS, "")
        messages = turn_list(state, number, example, "messages")
        if messages is None:
            return
        system: str | None = None
        roles: list[str] = []
        contents: list[str] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if not turn_object(state, number, message, where, "message", OPENAI_MESSAGE_FIELDS):
                continue
            role = text_field(state, number, message, "role", where + ".role")
            content = text_field(state, number, message, "content", where + ".content")
            if role is None or content is None:
                continue
            if role not in OPENAI_ROLES:
                state.error(Rule.CHAT_AUTHOR, _wrong_role(role), number, where + ".role")
            elif role == "system":
                if index != 0:
                    state.error(
                        Rule.CHAT_TURNS,
                        "a system message may only come first",
                        number,
                        where + ".role",
                    )
                system = content
            else:
                if role == "assistant":
                    self._weight(number, message, where)
                self.counts.author_field(number)
                self.counts.authors[role] += 1
                roles.append(role)
                contents.append(content)
        self.counts.messages_per_example.add(len(messages))
        self._conversation(number, len(messages), system, roles, contents)

    def _weight(self, number: int, message: dict[str, Any], where: str) -> None:
        """Gemini tuning trains on every model turn: one the file says not to train on (weight
        0) would be trained on all the same, its weight dropped by the conversion."""
        weight = message.get("weight")
        if weight == 0 and type(weight) in (int, float) and not self.state.rules.legacy:
            self.state.error(
                Rule.GEMINI_FORMAT,
                "weight 0 says not to train on this turn, but Gemini tuning has no per-turn "
                "weight and would train on it: remove the turn or its weight",
                number,
                where + ".weight",
            )

    def _conversation(
        self, number: int, messages: int, system: str | None, roles: list[str], contents: list[str]
    ) -> None:
        """The turns' order, once every message is well formed; then the measurement."""
        offset = 1 if system is not None else 0
        if len(roles) + offset != messages or not roles:
            if not roles and messages == offset:
                self.state.error(
                    Rule.CHAT_TURNS,
                    "the conversation has no user and assistant turns",
                    number,
                    "messages",
                )
            return
        if check_turns(
            self.state, number, roles, "user", "assistant", lambda i: f"messages[{i + offset}].role"
        ):
            self.measure.conversation(number, system, contents)
