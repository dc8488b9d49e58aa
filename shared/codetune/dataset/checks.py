"""Checks that look at every well-formed example's texts beside the format rules.

The validator hands each check an example's texts in one shape whatever the file's format:
`(prompt, response)` for a code-generation example, `(system, turn, ..., answer)` for a
conversation (`system` is the chat's context, OpenAI's system message or Gemini's
systemInstruction, None when there is none). A check reports through the same findings as
the validator, with the example's line and the field a text came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

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


class TimeShare(msgspec.Struct):
    """Seconds a pass or a search may run from its creation (None: no limit), the clock read
    every `every` steps. Once out of time it stays out, and `stopped_at` is the first line it
    did not look at."""

    seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    every: int = 64
    steps: int = 0
    deadline: float | None = None
    stopped_at: int | None = None

    def __post_init__(self) -> None:
        if self.seconds is not None:
            self.deadline = self.clock() + self.seconds

    def out(self, line: int) -> bool:
        """Count one more step, at `line`; whether the time is up."""
        if self.stopped_at is None and self.deadline is not None:
            self.steps += 1
            if not self.steps % self.every and self.clock() > self.deadline:
                self.stopped_at = line
        return self.stopped_at is not None
