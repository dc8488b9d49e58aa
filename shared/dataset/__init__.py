"""Dataset validation (S-1 to S-9): stream a JSONL dataset, report every fault."""

from shared.dataset.report import Finding, Findings, ValidationReport
from shared.dataset.rules import DatasetKind, DatasetRole, Rule
from shared.dataset.validator import validate_path, validate_stream

__all__ = [
    "DatasetKind",
    "DatasetRole",
    "Finding",
    "Findings",
    "Rule",
    "ValidationReport",
    "validate_path",
    "validate_stream",
]
