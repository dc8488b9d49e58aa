"""What an answer scores against the reference: one row per metric, each with its definition,
its source and which way is better, and one function per metric.

Every score is a float, or None where the metric does not apply to the example (code parses,
for a reference without code); the verdict counts those apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import Any

import msgspec

from codetune.evaluation.fences import fenced_blocks
from codetune.evaluation.parsers import Language, language_of, parses


class Direction(StrEnum):
    HIGHER = "higher is better"
    NEARER_ONE = "nearer 1 is better: a smaller |ln ratio|"


def normalise(text: str) -> str:
    """Whitespace normalised: every run of whitespace (str.split's: Unicode White_Space, line
    breaks included) becomes one space, and none leads or trails. Case and all else stay."""
    return " ".join(text.split())


def exact_match(answer: str, reference: str) -> float:
    """1.0 when the answer equals the reference after whitespace normalisation, else 0.0."""
    return 1.0 if normalise(answer) == normalise(reference) else 0.0


@cache
def _chrf() -> Any:
    from sacrebleu.metrics.chrf import CHRF  # the evaluation extra, loaded on first use

    return CHRF()


def chrf(answer: str, reference: str) -> float:
    """sacrebleu's sentence-level chrF (0 to 100) of the answer against the one reference."""
    return float(_chrf().sentence_score(answer, [reference]).score)


def code_parses(answer: str, reference: str, language: str | None = None) -> float | None:
    """1.0 when the answer's code in the reference's language parses, 0.0 when it does not or
    the answer has none; None when the reference has no code that parses here."""
    expected = _reference_language(reference, language)
    if expected is None:
        return None
    wanted = _code(reference, expected)
    if not wanted or not all(parses(code, expected) for code in wanted):
        return None  # prose, or code in a form this parser does not read: not comparable
    given = _code(answer, expected)
    return 1.0 if given and all(parses(code, expected) for code in given) else 0.0


def _reference_language(reference: str, language: str | None) -> Language | None:
    """The language of the reference's first fenced block when it is tagged, else the
    dataset's language (for untagged blocks and unfenced references)."""
    blocks = fenced_blocks(reference)
    if blocks and blocks[0].tag is not None:
        return language_of(blocks[0].tag)  # a tag with no parser here: not applicable
    return language_of(language)


def _code(text: str, language: Language) -> list[str]:
    """The text's code in the language: its fenced blocks tagged so or untagged, or all of an
    unfenced text."""
    blocks = fenced_blocks(text)
    if blocks is None:
        return [text]
    return [b.code for b in blocks if b.tag is None or language_of(b.tag) == language]


def length_ratio(answer: str, reference: str) -> float:
    """(characters of the answer + 1) / (characters of the reference + 1), both whitespace
    normalised and counted in Unicode code points; the + 1 keeps an empty answer finite."""
    return (len(normalise(answer)) + 1) / (len(normalise(reference)) + 1)


Score = Callable[[str, str, str | None], float | None]


class Metric(msgspec.Struct, frozen=True):
    name: str  # the key in every example's scores
    title: str  # what people read
    definition: str
    source: str
    direction: Direction
    score: Score  # (answer, reference, the dataset's language) -> score or None
    scale: float = 1.0  # shown as score x scale
    unit: str = ""
    digits: int = 1

    def compared(self, value: float) -> float:
        """The quantity base and tuned are compared on: the score, or |ln ratio|."""
        return value if self.direction is Direction.HIGHER else abs(math.log(value))

    def shown(self, value: float, sign: str = "") -> str:
        """A mean or a difference as people read it ("41.2", "+13.8", "30.0")."""
        return f"{value * self.scale:{sign}.{self.digits}f}"

    @property
    def sign(self) -> int:
        """+1 when a larger compared quantity is better, -1 when a smaller one is."""
        return 1 if self.direction is Direction.HIGHER else -1


METRICS: tuple[Metric, ...] = (
    Metric(
        "exact_match",
        "exact match",
        "1 when the answer equals the reference once every run of whitespace is one space and "
        "none leads or trails, else 0; shown as the share of examples",
        "codetune",
        Direction.HIGHER,
        lambda answer, reference, _: exact_match(answer, reference),
        scale=100.0,
        unit="%",
    ),
    Metric(
        "chrf",
        "chrF",
        "character n-gram F-score (n = 1..6, recall weighted twice as much as precision, "
        "whitespace ignored), sentence level, 0 to 100",
        "sacrebleu CHRF() defaults (Popović 2015)",
        Direction.HIGHER,
        lambda answer, reference, _: chrf(answer, reference),
    ),
    Metric(
        "code_parses",
        "code parses",
        "1 when every block of the answer's code in the reference's language parses, 0 when "
        "one does not or there is none; not applicable when the reference has no code that "
        "parses; shown as the share of examples",
        "Python's ast; tree-sitter grammars (codetune.evaluation.parsers)",
        Direction.HIGHER,
        code_parses,
        scale=100.0,
        unit="%",
    ),
    Metric(
        "length_ratio",
        "length |ln ratio|",
        "(characters of the answer + 1) / (characters of the reference + 1), whitespace "
        "normalised; compared as |ln ratio|, 0 when the lengths match",
        "codetune",
        Direction.NEARER_ONE,
        lambda answer, reference, _: length_ratio(answer, reference),
        digits=2,
    ),
)
BY_NAME = {metric.name: metric for metric in METRICS}


def score(answer: str, reference: str, language: str | None = None) -> dict[str, float | None]:
    """Every metric's score of one answer, by name."""
    return {metric.name: metric.score(answer, reference, language) for metric in METRICS}


def markdown_table() -> str:
    """The documentation's metric table (docs/evaluation.md), from METRICS."""
    rows = ["| metric | key | definition | better | source |", "|---|---|---|---|---|"]
    for m in METRICS:
        cells = (m.title, f"`{m.name}`", m.definition, m.direction, m.source)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m codetune.evaluation.metrics > the table for the docs
    print(markdown_table(), end="")
