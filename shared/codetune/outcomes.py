"""Re-read a job and record where its dataset stands: shared by status (on each job event) and
sweep (on a schedule, for jobs with no dependable event and events that were lost)."""

from __future__ import annotations

from typing import Any

from codetune import jobs
from codetune.logs import Logger
from codetune.records import PIPELINE_STAGES, TUNING_STAGES, Stage, advance
from codetune.storage import Storage
from codetune.vertex import VertexClient


def record_outcome(
    storage: Storage, vertex: VertexClient, pointer: dict[str, Any], by: str, log: Logger
) -> tuple[Stage | None, bool]:
    """The job's stage now, and whether the record moved forward."""
    name = pointer["job"]
    job = vertex.get_job(name)
    tuning = "/tuningJobs/" in name
    stage = (TUNING_STAGES if tuning else PIPELINE_STAGES).get(str(job.get("state")))
    if stage is None:
        log.warning("job in a state with no record stage", job=name, state=job.get("state"))
        return None, False
    model = endpoint = None
    if stage is Stage.SUCCEEDED:
        tuned = job.get("tunedModel") or {}
        model = tuned.get("model") if tuning else jobs.tuned_model_name(job)
        endpoint = tuned.get("endpoint") if tuning else jobs.tuned_endpoint_name(job)
        if not model:
            log.error("job succeeded but names no tuned model", job=name)
    written = storage.update_json(
        pointer["bucket"],
        pointer["record"],
        lambda current: advance(
            current, stage, by,
            job={**((current or {}).get("job") or {}), "name": name, "state": job.get("state")},
            tuned_model={"model": model, "endpoint": endpoint} if model else None,
            error=jobs.job_error(job) if stage in (Stage.FAILED, Stage.CANCELLED) else None,
        ),
    )  # fmt: skip
    if written is None:
        log.info("older or repeated job state: record unchanged", job=name, state=job.get("state"))
    elif stage is Stage.SUCCEEDED:
        log.info("tuned model ready", job=name, tuned_model=model, endpoint=endpoint)
    elif stage in (Stage.FAILED, Stage.CANCELLED):
        log.error(
            "tuning job ended without a model",
            job=name,
            state=job.get("state"),
            error=jobs.job_error(job),
        )
    else:
        log.info("tuning job progressed", job=name, state=job.get("state"))
    return stage, written is not None
