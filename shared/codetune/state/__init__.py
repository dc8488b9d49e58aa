"""The system's state: typed records, job pointers and claims, and the store that owns them."""

from codetune.state.records import (
    FINAL,
    Claim,
    JobPointer,
    JobRef,
    Record,
    Stage,
    TunedModel,
    describe,
)
from codetune.state.store import SYSTEM_PREFIX, RecordStore, html_report_name, report_name

__all__ = [
    "FINAL",
    "SYSTEM_PREFIX",
    "Claim",
    "JobPointer",
    "JobRef",
    "Record",
    "RecordStore",
    "Stage",
    "TunedModel",
    "describe",
    "html_report_name",
    "report_name",
]
