"""Checks that look at every well-formed example's texts beside the format rules.

The validator hands each check an example's texts in one shape whatever the file's format:
`(prompt, response)` for a code-generation example, `(system, turn, ..., answer)` for a
conversation (`system` is the chat's context, OpenAI's system message or Gemini's
systemInstruction, None when there is none). A check reports through the same findings as
the validator, with the example's line and the field a text came from.
"""

from __future__ import annotations

from typing import Any, Protocol

from codetune.dataset.rules import Rule

Texts = tuple[str | None, ...]


class Findings(Protocol):
    """Where a check reports; the validator's state implements it."""

    def error(self, rule: Rule, message: str, line: int | None, field: str | None = None) -> None:
        """An error: the dataset is rejected."""

    def warn(self, rule: Rule, message: str, line: int | None, field: str | None = None) -> None:
        """A warning: the dataset is tuned, and the report says it."""

    def field_of(self, index: int, texts: Texts) -> str:
        """The field of the example that `texts[index]` came from (`messages[2].content`)."""


class ExampleCheck(Protocol):
    """One analysis of every well-formed example, in the validator's single pass."""

    name: str  # its section in the report's stats

    def example(self, line: int, texts: Texts, findings: Findings) -> None:
        """Look at one example; report what is wrong with it."""

    def finish(self, findings: Findings) -> dict[str, Any]:
        """Report what is wrong with the file as a whole; return the stats of the check."""
