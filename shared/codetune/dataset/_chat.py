"""The seed's code-chat examples: `{"messages": [{"author", "content"}], "context"?}` (S-1),
authors alternating from the user to the assistant's answer (chat-author, chat-turns)."""

from __future__ import annotations

from typing import Any

from codetune.dataset._fields import check_turns, is_text, json_type, text_field, unknown_fields
from codetune.dataset._formats import FormatChecker, seed_example
from codetune.dataset.rules import (
    CHAT_AUTHORS,
    CHAT_FIELDS,
    CHAT_MESSAGE_FIELDS,
    DatasetKind,
    Rule,
)


class SeedChat(FormatChecker):
    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        if self._fast(number, example):
            # A well-formed seed conversation is of no other format, so its format need not
            # be asked.
            self.scan.conversation(number, data, example, len(example["messages"]))
            return
        self.scan.any(number, data, example)
        if seed_example(self.state, number, example) is DatasetKind.CHAT:
            self.detailed(number, example)

    def _fast(self, number: int, example: dict[str, Any]) -> bool:
        """True when a well-formed chat was checked whole here; False hands the example to the
        detailed path, which reports every fault with its field (and re-does this work)."""
        messages = example.get("messages")
        if type(messages) is not list or not messages:
            return False
        context = example.get("context")
        if "context" in example:
            if len(example) != 2 or not is_text(context):
                return False
        elif len(example) != 1:
            return False
        counts = self.counts
        if not counts.fit_author_fields(len(messages)):
            return False  # the detailed path reports the field where the limit is crossed
        authors: list[str] = []
        contents: list[str] = []
        for message in messages:
            if type(message) is not dict or len(message) != 2:
                return False
            author, content = message.get("author"), message.get("content")
            if type(author) is not str or author not in CHAT_AUTHORS or not is_text(content):
                return False
            authors.append(author)
            contents.append(content)
        counts.author_fields += len(messages)
        counts.authors.update(authors)
        counts.messages_per_example.add(len(messages))
        if check_turns(self.state, number, authors):
            self.measure.conversation(number, context, contents)
        return True

    def detailed(self, number: int, example: dict[str, Any]) -> None:
        state = self.state
        messages = example["messages"]
        unknown_fields(state, number, example, CHAT_FIELDS, "")
        context = None
        if "context" in example:
            context = text_field(state, number, example, "context", "context")
        if not isinstance(messages, list):
            state.error(
                Rule.FORMAT,
                f"messages is {json_type(messages)}; it must be an array of "
                '{"author", "content"} objects',
                number,
                "messages",
            )
            return
        if not messages:
            state.error(
                Rule.FORMAT,
                "messages is empty; an example needs a user turn and the assistant's answer",
                number,
                "messages",
            )
            return
        turns = self._messages(number, messages)
        self.counts.messages_per_example.add(len(messages))
        if turns is None:
            return  # faults already reported; the turn order is not meaningful
        authors, contents = turns
        if not check_turns(state, number, authors) or ("context" in example and context is None):
            return
        self.measure.conversation(number, context, contents)

    def _messages(self, number: int, messages: list[Any]) -> tuple[list[str], list[str]] | None:
        """The authors and contents of well-formed messages; None when any is not (reported)."""
        state, counts = self.state, self.counts
        authors: list[str] = []
        contents: list[str] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if not isinstance(message, dict):
                state.error(
                    Rule.FORMAT,
                    f"message is {json_type(message)}; it must be an object with author and "
                    "content",
                    number,
                    where,
                )
                continue
            if "author" in message:
                counts.author_field(number)
            if len(message) != 2:
                unknown_fields(state, number, message, CHAT_MESSAGE_FIELDS, where + ".")
            author = text_field(state, number, message, "author", where + ".author")
            content = text_field(state, number, message, "content", where + ".content")
            if author is not None:
                if author in CHAT_AUTHORS:
                    authors.append(author)
                    counts.authors[author] += 1
                else:
                    state.error(
                        Rule.CHAT_AUTHOR,
                        "author must be 'user' or 'assistant'",
                        number,
                        where + ".author",
                    )
            if content is not None:
                contents.append(content)
        if len(authors) != len(messages) or len(contents) != len(messages):
            return None
        return authors, contents
