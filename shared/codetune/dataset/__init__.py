"""Dataset validation (S-1 to S-9): stream a JSONL dataset, report every fault."""

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
