"""Records: where each dataset version stands, one JSON document per dataset version and job.

A record only moves forward. Every writer reads it, computes the next record with `advance`,
and writes it back with a generation precondition, so an older or repeated event can never
overwrite a newer state, and two writers racing cannot lose an update.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

RECORD_VERSION = 1


class Stage(StrEnum):
    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"  # invalid dataset: final
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


_RANK = {
    Stage.VALIDATED: 1,
    Stage.SUBMITTED: 2,
    Stage.QUEUED: 3,
    Stage.RUNNING: 4,
    Stage.REJECTED: 9,
    Stage.SUCCEEDED: 9,
    Stage.FAILED: 9,
    Stage.CANCELLED: 9,
}
FINAL = frozenset(stage for stage, rank in _RANK.items() if rank == 9)

# FACTS: PipelineJob states. PAUSED and CANCELLING are still on their way somewhere.
PIPELINE_STAGES = {
    "PIPELINE_STATE_QUEUED": Stage.QUEUED,
    "PIPELINE_STATE_PENDING": Stage.QUEUED,
    "PIPELINE_STATE_RUNNING": Stage.RUNNING,
    "PIPELINE_STATE_CANCELLING": Stage.RUNNING,
    "PIPELINE_STATE_PAUSED": Stage.RUNNING,
    "PIPELINE_STATE_SUCCEEDED": Stage.SUCCEEDED,
    "PIPELINE_STATE_FAILED": Stage.FAILED,
    "PIPELINE_STATE_CANCELLED": Stage.CANCELLED,
}


# TuningJob states (Gemini supervised tuning).
TUNING_STAGES = {
    "JOB_STATE_QUEUED": Stage.QUEUED,
    "JOB_STATE_PENDING": Stage.QUEUED,
    "JOB_STATE_RUNNING": Stage.RUNNING,
    "JOB_STATE_UPDATING": Stage.RUNNING,
    "JOB_STATE_CANCELLING": Stage.RUNNING,
    "JOB_STATE_PAUSED": Stage.RUNNING,
    "JOB_STATE_SUCCEEDED": Stage.SUCCEEDED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": Stage.SUCCEEDED,
    "JOB_STATE_FAILED": Stage.FAILED,
    "JOB_STATE_EXPIRED": Stage.FAILED,
    "JOB_STATE_CANCELLED": Stage.CANCELLED,
}


def advance(
    current: dict[str, Any] | None, stage: Stage, by: str, **fields: Any
) -> dict[str, Any] | None:
    """The record after moving to `stage`, or None when that would not be a step forward."""
    if current is not None:
        now = Stage(current["state"])
        if now in FINAL or _RANK[stage] <= _RANK[now]:
            return None
    record: dict[str, Any] = dict(current or {"version": RECORD_VERSION, "history": []})
    time = datetime.now(UTC).isoformat()
    record.update({k: v for k, v in fields.items() if v is not None})
    record["state"] = str(stage)
    record["updated"] = time
    record["history"] = [*record.get("history", []), {"state": str(stage), "time": time, "by": by}]
    return record


def record_name(system_prefix: str, dataset_object: str, generation: str) -> str:
    """`_codetune/records/incoming/train.jsonl/1732700000000001.json`."""
    return f"{system_prefix}records/{dataset_object}/{generation}.json"


def job_pointer_name(system_prefix: str, job_id: str) -> str:
    """`_codetune/jobs/<job id>.json`: where a job's record is, for status events and lookups."""
    return f"{system_prefix}jobs/{job_id}.json"


def open_job_name(system_prefix: str, job_id: str) -> str:
    """`_codetune/open/<job id>.json`: a job not finished yet, for the sweep to re-read."""
    return f"{system_prefix}open/{job_id}.json"


def report_name(dataset_object: str) -> str:
    """The validation report beside the dataset: `incoming/train.jsonl.report.json`."""
    return dataset_object + ".report.json"


def describe(record: dict[str, Any]) -> list[str]:
    """Where a dataset stands, in a few lines a person reads."""
    state = record.get("state", "?")
    lines = [f"{record.get('dataset', '?')} (generation {record.get('generation', '?')}): {state}"]
    if record.get("correlation_id"):
        lines.append(
            f'  correlation id {record["correlation_id"]} (logs: labels."codetune/correlation_id"="{record["correlation_id"]}")'
        )
    if state in (Stage.VALIDATED, Stage.REJECTED):
        lines.append(
            f"  {record.get('examples', 0):,} examples, {record.get('kind')} {record.get('role')} dataset; report {record.get('report')}"
        )
    for error in record.get("first_errors") or []:
        where = f"line {error['line']}" if error.get("line") else "file"
        lines.append(
            f"  {where}{', ' + error['field'] if error.get('field') else ''} [{error['rule']}] {error['message']}"
        )
    job = record.get("job") or {}
    if job.get("name"):
        lines.append(f"  job {job['name']} ({job.get('state') or 'state unknown'})")
    model = (record.get("tuned_model") or {}).get("model")
    if model:
        lines.append(f"  tuned model: {model}")
    error = record.get("error")
    if error:
        for problem in error.get("problems") or []:
            lines.append(f"  {problem['parameter']} [{problem['rule']}] {problem['message']}")
        if error.get("message"):
            lines.append(f"  error: {error['message']}")
    return lines
