"""The validation report: findings (errors and warnings), counted per rule, listed up to a cap."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from codetune.dataset.rules import (
    MAX_LISTED_FINDINGS,
    MAX_LISTED_PER_RULE,
    DatasetKind,
    DatasetRole,
    Rule,
    RuleSet,
)


class Summary(msgspec.Struct):
    """Running min / max / mean / total of a count, in constant memory."""

    count: int = 0
    total: int = 0
    least: int = 0
    most: int = 0

    def add(self, value: int) -> None:
        if value < self.least or not self.count:
            self.least = value
        if value > self.most:
            self.most = value
        self.count += 1
        self.total += value

    def extend(self, values: list[int]) -> None:
        """Add many values at once (min, max and sum in C: much cheaper than one `add` each)."""
        if not values:
            return
        least, most = min(values), max(values)
        if least < self.least or not self.count:
            self.least = least
        if most > self.most:
            self.most = most
        self.count += len(values)
        self.total += sum(values)

    def to_dict(self) -> dict[str, Any]:
        mean = round(self.total / self.count, 1) if self.count else 0
        return {"min": self.least, "max": self.most, "mean": mean, "total": self.total}


class Finding(msgspec.Struct, frozen=True):
    """One fault (or warning) in a dataset.

    `line` is 1-based, None for a rule about the whole file. `field` names the place in the
    example (`messages[2].author`), None when the fault is not in a field. Messages never quote
    the dataset's contents: they may be private code.
    """

    rule: Rule
    message: str
    line: int | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "field": self.field,
            "rule": str(self.rule),
            "message": self.message,
        }


class Findings(msgspec.Struct):
    """Findings of one severity: all counted per rule, the first few of each rule listed."""

    listed: list[Finding] = msgspec.field(default_factory=list)
    counts: Counter[str] = msgspec.field(default_factory=Counter)
    max_listed: int = MAX_LISTED_FINDINGS
    max_per_rule: int = MAX_LISTED_PER_RULE

    def add(self, finding: Finding) -> None:
        rule = str(finding.rule)
        self.counts[rule] += 1
        if self.counts[rule] <= self.max_per_rule and len(self.listed) < self.max_listed:
            self.listed.append(finding)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def omitted(self) -> int:
        return self.total - len(self.listed)

    def __bool__(self) -> bool:
        return bool(self.counts)


class ValidationReport(msgspec.Struct):
    """What the validator found in one dataset. `to_dict()` is the documented JSON report."""

    dataset: str
    kind: DatasetKind | None
    role: DatasetRole
    examples: int
    errors: Findings
    warnings: Findings
    stats: dict[str, Any]
    rules: RuleSet
    format: str = "seed"  # the examples' format: the code-bison formats of Google's page

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        ordered = (
            sorted(self.errors.listed, key=_by_line),
            sorted(self.warnings.listed, key=_by_line),
        )
        return {
            "dataset": self.dataset,
            "base_model": self.rules.base_model,
            "rule_set": self.rules.name,
            "format": self.format,
            "kind": str(self.kind) if self.kind else None,
            "role": str(self.role),
            "valid": self.valid,
            "examples": self.examples,
            "errors": [f.to_dict() for f in ordered[0]],
            "warnings": [f.to_dict() for f in ordered[1]],
            "stats": {
                **self.stats,
                "findings": {
                    "errors": dict(sorted(self.errors.counts.items())),
                    "warnings": dict(sorted(self.warnings.counts.items())),
                    "errors_not_listed": self.errors.omitted,
                    "warnings_not_listed": self.warnings.omitted,
                },
            },
        }


def _by_line(finding: Finding) -> tuple[int, int]:
    # Whole-file findings (line None) first, then in file order; sort is stable within a line.
    return (0, 0) if finding.line is None else (1, finding.line)
