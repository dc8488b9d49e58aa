"""The one interface of the format checkers, and what tells an example's format and kind.

A file holds one format (and, in the seed's, one kind): the first example's, or what was given.
The driver chooses the file's checker once (codetune.dataset._detect) and hands it every line
that decodes to an object; a checker reports what is wrong with the example and gives each
well-formed one to the measurement.
"""

from __future__ import annotations

from typing import Any

import msgspec

from codetune.dataset._file_rules import FileRules
from codetune.dataset._measure import Measurement
from codetune.dataset._scan import LineScanner
from codetune.dataset._state import PassState
from codetune.dataset.rules import DatasetFormat, DatasetKind, Rule

# The keys of the conversation formats: a seed line holding one may be of another format.
FOREIGN_KEYS = frozenset({"contents", "systemInstruction", "messages"})


class FormatChecker(msgspec.Struct):
    """What every checker reports to; each format's overrides `line`."""

    state: PassState
    scan: LineScanner
    measure: Measurement
    counts: FileRules

    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        """Scan and check the example decoded from line `number` (`data`, as written)."""
        raise NotImplementedError

    def detailed(self, number: int, example: dict[str, Any]) -> None:
        """Check an example already scanned, reporting each fault with its field."""
        raise NotImplementedError


def format_of(example: dict[str, Any]) -> DatasetFormat:
    """An example's format, from its shape: Gemini's `contents`, OpenAI's `messages` of roles,
    else the seed's (whose faults the seed checks then name)."""
    if "contents" in example or "systemInstruction" in example:
        return DatasetFormat.GEMINI
    messages = example.get("messages")
    if type(messages) is list and messages:
        first = messages[0]
        if type(first) is dict and "role" in first and "author" not in first:
            return DatasetFormat.OPENAI
    return DatasetFormat.SEED


def holds_format(state: PassState, number: int, example: dict[str, Any]) -> bool:
    """Whether the example is of the file's format; reported if not."""
    found = format_of(example)
    if found is state.format:
        return True
    where = f"detected on line {state.format_line}" if state.format_line else "as given"
    state.error(
        Rule.FORMAT,
        f"an example in the {found} format in a file of the {state.format} format ({where}); "
        "a file holds one format",
        number,
    )
    return False


def kind_of(state: PassState, number: int, example: dict[str, Any]) -> DatasetKind | None:
    """A seed example's kind if it matches the dataset's (the first example sets it); else
    reported, and None."""
    is_chat = "messages" in example
    is_generation = "input_text" in example or "output_text" in example
    if is_chat and is_generation:
        state.error(
            Rule.FORMAT,
            "example mixes code-generation fields (input_text/output_text) with chat "
            "messages; use one kind",
            number,
        )
        return None
    if not (is_chat or is_generation):
        state.error(
            Rule.FORMAT,
            "example has neither input_text/output_text (code generation) nor messages (code chat)",
            number,
        )
        return None
    kind = DatasetKind.CHAT if is_chat else DatasetKind.GENERATION
    if state.kind is None:
        state.detected_kind(kind, number)
    elif kind is not state.kind:
        where = f"detected on line {state.kind_line}" if state.kind_line else "as given"
        state.error(
            Rule.FORMAT,
            f"a {kind} example in a {state.kind} dataset ({where}); a file holds one kind",
            number,
        )
        return None
    return kind


def seed_example(state: PassState, number: int, example: dict[str, Any]) -> DatasetKind | None:
    """A seed line's kind, once it is known to be of the seed's format (reported if not)."""
    if not FOREIGN_KEYS.isdisjoint(example) and not holds_format(state, number, example):
        return None
    return kind_of(state, number, example)
