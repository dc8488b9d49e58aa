"""Dataset validation (S-1 to S-9): stream a JSONL dataset, report every fault.

The validator itself (and the matchers and detectors it builds) loads on first use, so that a
function which only needs the rule table (status, tune's planning) does not pay for it at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codetune.dataset.report import Finding, Findings, ValidationReport
from codetune.dataset.rules import (
    DatasetFormat,
    DatasetKind,
    DatasetRole,
    Rule,
    RuleSet,
    SecretSeverity,
    code_bison,
)

if TYPE_CHECKING:
    from codetune.dataset.validator import validate_path, validate_stream

__all__ = [
    "DatasetFormat",
    "DatasetKind",
    "DatasetRole",
    "Finding",
    "Findings",
    "Rule",
    "RuleSet",
    "SecretSeverity",
    "ValidationReport",
    "code_bison",
    "validate_path",
    "validate_stream",
]
_LAZY = {"validate_path", "validate_stream"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from codetune.dataset import validator

        return getattr(validator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
