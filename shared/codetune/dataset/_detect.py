"""The choice of a file's checker, once: by the format given, else by its first example's
(and, in the seed's format, by the first example of either kind)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codetune.dataset._chat import SeedChat
from codetune.dataset._file_rules import FileRules
from codetune.dataset._formats import FormatChecker, format_of, seed_example
from codetune.dataset._gemini import GeminiChat
from codetune.dataset._generation import SeedGeneration
from codetune.dataset._measure import Measurement
from codetune.dataset._openai import OpenAIChat
from codetune.dataset._scan import LineScanner
from codetune.dataset._state import PassState
from codetune.dataset.rules import DatasetFormat, DatasetKind


class _Choosing(FormatChecker):
    choose: Callable[[FormatChecker], None]  # makes a checker the file's

    def next(self) -> FormatChecker:
        """The checker for what is now known of the file, made the file's."""
        checker = checker_for(self.state, self.scan, self.measure, self.counts, self.choose)
        self.choose(checker)
        return checker


class Detection(_Choosing):
    """The checker of a file whose format is not known: its first example tells it."""

    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        state = self.state
        state.format, state.format_line = format_of(example), number
        if state.format is not DatasetFormat.SEED:
            state.detected_kind(DatasetKind.CHAT, number)  # conversations
        checker = self.next()
        checker.line(number, data, example)


class KindPending(_Choosing):
    """The checker of a seed file whose kind is not known: the first example of either kind
    tells it (one of neither is reported, and the next is asked)."""

    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        self.scan.any(number, data, example)
        if seed_example(self.state, number, example) is not None:
            self.next().detailed(number, example)


def checker_for(
    state: PassState,
    scan: LineScanner,
    measure: Measurement,
    counts: FileRules,
    choose: Callable[[FormatChecker], None],
) -> FormatChecker:
    """The checker for what is known of the file's format and kind (`choose` makes another
    the file's, once the first example tells more)."""
    parts = (state, scan, measure, counts)
    if state.format is None:
        return Detection(*parts, choose=choose)
    if state.format is DatasetFormat.OPENAI:
        return OpenAIChat(*parts)
    if state.format is DatasetFormat.GEMINI:
        return GeminiChat(*parts)
    if state.kind is DatasetKind.GENERATION:
        return SeedGeneration(*parts)
    if state.kind is DatasetKind.CHAT:
        return SeedChat(*parts)
    return KindPending(*parts, choose=choose)
