"""status and the sweep: re-read a job and record where its dataset stands.

status runs on each job event (a nudge: the job itself is re-read); the sweep runs on a
schedule over every unfinished job, for jobs without dependable events and events that were
lost. Both only ever move a record forward.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from codetune.app.finished import Announcer
from codetune.app.listing import listed_jobs
from codetune.app.run_page import ended_curves, write_run_page
from codetune.evaluation.plan import Evaluation, EvaluationState
from codetune.exceptions import (
    NOT_FOUND,
    ForeignName,
    InputError,
    PermanentVertexError,
    VertexError,
)
from codetune.logs import Logger
from codetune.state import FINAL, JobPointer, JobRef, Record, RecordStore, Stage
from codetune.state.records import DataStats, Failure, Tokens
from codetune.tuning.backends import JobOutcome, by_name
from codetune.tuning.backends.base import VertexAI


def record_outcome(
    pointer: JobPointer,
    store: RecordStore,
    vertex: VertexAI,
    by: str,
    log: Logger,
    announcer: Announcer | None = None,
    listed: dict[str, Any] | None = None,
) -> Stage | None:
    """Read the job (unless `listed`: the job as a list request just returned it), move its
    record forward, close it when it has ended; the job's stage now."""
    backend = by_name(pointer.backend)
    job: dict[str, Any] = {}
    try:
        job = vertex.get_job(pointer.job) if listed is None else listed
        outcome = backend.outcome(job)
    except ForeignName as fault:
        # Never a request to a host the name picks: the dataset ends here, saying why.
        log.error("job name not of this deployment: refused", job=pointer.job, error=str(fault))
        outcome = JobOutcome("REFUSED", Stage.FAILED, error=Failure("foreign-job", str(fault)))
    except PermanentVertexError as fault:
        if fault.status != NOT_FOUND:
            raise
        # The job is gone (deleted, or never kept): the dataset ends here, saying why.
        outcome = JobOutcome(
            "NOT_FOUND",
            Stage.FAILED,
            error=Failure(
                message=f"the job no longer exists in Vertex AI: {fault}", code=NOT_FOUND
            ),
        )
    if outcome.stage is None:
        log.warning("job in a state with no record stage", job=pointer.job, state=outcome.state)
        return None
    stage = outcome.stage
    if stage is Stage.SUCCEEDED and outcome.tuned_model is None:
        log.error("job succeeded but names no tuned model", job=pointer.job)
    curves = ended_curves(backend, vertex, job, store, pointer) if stage in FINAL else None

    def step(current: Record | None) -> Record | None:
        if current is None:  # a job of a dataset with no record: nothing to move forward
            return None
        reached, evaluation = evaluation_due(current, stage, outcome)
        moved = current.advanced(
            reached,
            by,
            evaluation=evaluation,
            job=JobRef(pointer.job, pointer.job_id, outcome.state),
            tuned_model=outcome.tuned_model,
            error=outcome.error,
            data_stats=beside_estimate(outcome.data_stats, current.tokens),
            progress=outcome.progress,
            curves=curves,
        )
        if moved is None and current.state is reached and _further(current, outcome):
            return msgspec.structs.replace(current, progress=outcome.progress)
        return moved

    written = store.update(pointer.dataset, pointer.generation, step)
    if written is None:
        log.info(
            "older or repeated job state: record unchanged", job=pointer.job, state=outcome.state
        )
    elif outcome.stage is Stage.SUCCEEDED:
        model = outcome.tuned_model
        log.info(
            "tuned model ready",
            job=pointer.job,
            tuned_model=model and model.model,
            endpoint=model and model.endpoint,
            base_model=written.base_model,
            seconds_since_upload=_since_first_step(written),
        )
    elif outcome.stage in FINAL:
        log.error(
            "tuning job ended without a model",
            job=pointer.job,
            state=outcome.state,
            error=outcome.error,
            base_model=written.base_model,
        )
    else:
        log.info("tuning job progressed", job=pointer.job, state=outcome.state)
    if written is not None and (written.state in FINAL or written.state is Stage.EVALUATING):
        write_run_page(store, pointer.dataset, written, log)
    if written is not None and written.state is Stage.EVALUATING and announcer is not None:
        # Lost (a publish that failed, a repeated event): the sweep asks again.
        announcer.evaluate(store, pointer.dataset, written, log)
    if outcome.stage in FINAL:
        # Also on a repeated event: announcing stands down once the end was announced.
        if announcer is not None:
            announcer(store, pointer.dataset, pointer.generation, log)
        store.close_job(pointer.job_id)
    return outcome.stage


def evaluation_due(
    current: Record, stage: Stage, outcome: JobOutcome
) -> tuple[Stage, Evaluation | None]:
    """Where a job's end takes its record: a succeeded job with an evaluation planned goes to
    EVALUATING (the evaluate function ends it), or, with no endpoint to ask, to SUCCEEDED
    saying why it was not evaluated."""
    planned = current.evaluation
    if stage is not Stage.SUCCEEDED or planned is None:
        return stage, None
    if planned.state is not EvaluationState.PLANNED:
        return stage, None
    if outcome.tuned_model is None or not outcome.tuned_model.endpoint:
        failed = msgspec.structs.replace(
            planned, state=EvaluationState.FAILED, note="the job names no endpoint to evaluate"
        )
        return stage, failed
    requested = msgspec.structs.replace(
        planned, state=EvaluationState.REQUESTED, requested=datetime.now(UTC).isoformat()
    )
    return Stage.EVALUATING, requested


def _further(current: Record, outcome: JobOutcome) -> bool:
    """New progress of a job still in its stage (more epochs done, or another detail)."""
    new = outcome.progress
    return new is not None and current.state not in FINAL and new.moved_from(current.progress)


def _since_first_step(record: Record) -> float | None:
    """Seconds from the version's first recorded step (its validation) to its last."""
    if len(record.history) < 2:
        return None
    first = datetime.fromisoformat(record.history[0].time)
    return round((datetime.fromisoformat(record.history[-1].time) - first).total_seconds(), 1)


def beside_estimate(stats: DataStats | None, tokens: Tokens | None) -> DataStats | None:
    """The service's counts with the ratio of its billable tokens to the dataset's tokens as
    codetune counted them (an estimate, unless the deployment gave a tokenizer)."""
    if stats is None:
        return None
    billed, counted = stats.billable_tokens, tokens.per_epoch if tokens else None
    ratio = round(billed / counted, 3) if billed is not None and counted else None
    return msgspec.structs.replace(stats, estimated_tokens=counted, billed_to_estimate=ratio)


def job_event(
    job_id: str,
    store: RecordStore,
    vertex: VertexAI,
    log: Logger,
    announcer: Announcer | None = None,
) -> Stage | None:
    """A job changed state: record it, if it is one of ours."""
    pointer = store.pointer(job_id)
    if pointer is None:
        log.info("not a codetune job: ignored", job_id=job_id)
        return None
    with log.bound(pointer.correlation_id, pointer.traceparent) as dataset_log:
        try:
            by_name(pointer.backend)
        except InputError as fault:
            dataset_log.error("unreadable job pointer: event dropped", error=str(fault))
            return None
        return record_outcome(pointer, store, vertex, "status", dataset_log, announcer)


class SweepResult(msgspec.Struct, frozen=True):
    jobs: int = 0
    finished: int = 0
    unreadable: int = 0  # jobs Vertex AI did not answer for: tried again next time
    skipped: int = 0  # objects under open/ that are not job pointers
    listed: int = 0  # jobs read from list requests (codetune.app.listing), not one by one


def sweep(
    store: RecordStore, vertex: VertexAI, log: Logger, announcer: Announcer | None = None
) -> SweepResult:
    """Re-read every unfinished job, most from a few list requests (codetune.app.listing);
    one unreadable job does not stop the others."""
    checked = finished = unreadable_jobs = 0
    skipped: list[str] = []

    def unreadable(name: str, fault: Exception) -> None:
        skipped.append(name)
        log.error("unreadable object under open/: skipped", object=name, error=str(fault))

    pointers = []
    for pointer in store.open_jobs(unreadable):
        try:
            by_name(pointer.backend)
        except InputError as fault:  # a stored value: untrusted, like the rest
            unreadable(pointer.job, fault)
            continue
        pointers.append(pointer)
    listed = listed_jobs(pointers, store.bucket, vertex, log)
    for pointer in pointers:
        checked += 1
        try:
            with log.bound(pointer.correlation_id, pointer.traceparent) as dataset_log:
                stage = record_outcome(
                    pointer, store, vertex, "sweep", dataset_log, announcer, listed.get(pointer.job)
                )
        except VertexError as fault:
            unreadable_jobs += 1
            log.error("could not re-read job", job=pointer.job, error=str(fault))
            continue
        finished += stage in FINAL
    return SweepResult(checked, finished, unreadable_jobs, len(skipped), len(listed))
