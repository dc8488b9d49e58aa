"""cancel: stop a dataset version's job, or make sure none is ever created for it.

The cancel is written into the record first, under the record's precondition; tune writes
`submitting` the same way just before it creates a job, and only if no cancel is there. So of
the two writes one is first, and whichever it is, no job trains on:

    a job is recorded             ─▶ it is cancelled (Vertex AI: CANCELLING, then CANCELLED,
                                     which status and the sweep record with its last state)
    no job, tune not submitting   ─▶ the record ends CANCELLED here (tune then refuses it)
    no job, tune submitting       ─▶ tune cancels the job it creates, seeing the cancel when
                                     it records the job (or, on a redelivery, finds it first)
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import msgspec

from codetune.config import Settings
from codetune.exceptions import (
    NOT_FOUND,
    CancelledBeforeJob,
    ForeignName,
    PermanentVertexError,
)
from codetune.logs import Logger
from codetune.messages import CancelRequested
from codetune.ports import ObjectStore
from codetune.state import FINAL, Record, RecordStore, Stage
from codetune.state.records import Cancel, Failure, advance
from codetune.tuning.backends.base import VertexAI

FAILED_PRECONDITION = 400  # google.rpc FAILED_PRECONDITION: the job has ended


class Cancelling(StrEnum):
    DROPPED = "dropped"  # not a version of this deployment's uploads
    NO_RECORD = "no-record"
    ENDED = "ended"  # it had ended: nothing changed
    STOPPING = "stopping"  # Vertex AI was asked to stop its job
    CANCELLED = "cancelled"  # ended before any job
    LEFT_TO_TUNE = "left-to-tune"  # tune is creating its job, and will cancel it


def cancel_dataset(
    request: CancelRequested,
    storage: ObjectStore,
    vertex: VertexAI,
    settings: Settings,
    log: Logger,
) -> Cancelling:
    """Carry out one cancel request (at least once, in any order with tune: idempotent)."""
    if request.bucket != settings.bucket or not request.name.startswith(settings.upload_prefix):
        log.error("cancel for a dataset outside the uploads: dropped", dataset=request.uri)
        return Cancelling.DROPPED
    store = RecordStore.of(storage, settings)
    asked = Cancel(request.by, request.time, request.reason)
    record = store.update(request.name, request.generation, lambda r: _marked(r, asked))
    record = record or store.record(request.name, request.generation)
    if record is None:
        log.warning("cancel for a version with no record: nothing to do", dataset=request.uri)
        return Cancelling.NO_RECORD
    if record.state in FINAL:
        log.info("cancel for a version that has ended: nothing changed", state=str(record.state))
        return Cancelling.ENDED
    if record.job is not None:
        return stop_job(record.job.name, vertex, log)
    ended = store.update(request.name, request.generation, lambda r: _before_any_job(r, asked))
    if ended is None:
        log.info("cancel recorded: tune, creating the job now, will cancel it")
        return Cancelling.LEFT_TO_TUNE
    log.info("cancelled before any job", by=asked.by, reason=asked.reason)
    return Cancelling.CANCELLED


def stop_job(name: str, vertex: VertexAI, log: Logger) -> Cancelling:
    """Ask Vertex AI to stop the job; a job that ended or vanished meanwhile is the sweep's to
    record. Transient failures raise (the message is delivered again)."""
    try:
        vertex.cancel_job(name)
    except ForeignName as fault:
        log.error("job name not of this deployment: not cancelled", job=name, error=str(fault))
        return Cancelling.ENDED
    except PermanentVertexError as fault:
        if fault.status not in (FAILED_PRECONDITION, NOT_FOUND):
            raise
        log.info("the job had ended or is gone: nothing to cancel", job=name, error=str(fault))
        return Cancelling.ENDED
    log.info("job cancel asked of Vertex AI", job=name)
    return Cancelling.STOPPING


def cancelled_before_job(store: RecordStore, name: str, generation: str, log: Logger) -> bool:
    """tune, holding a version with a cancel and no job: end it CANCELLED (False when a job
    was being created: tune must find it instead)."""
    return _end_recorded(store, name, generation, log, searched=False)


def cancelled_without_job(store: RecordStore, name: str, generation: str, log: Logger) -> bool:
    """tune, with a cancel and its own `submitting` mark, looked for the job and found none
    (its create never happened, or the job is gone): the version ends CANCELLED."""
    return _end_recorded(store, name, generation, log, searched=True)


def _end_recorded(
    store: RecordStore, name: str, generation: str, log: Logger, *, searched: bool
) -> bool:
    """The version's recorded cancel, carried out with no job; False if it cannot be."""
    record = store.record(name, generation)
    if record is None or record.cancel is None:
        return False
    asked = record.cancel
    if store.update(name, generation, lambda r: _ended(r, asked, searched)) is None:
        return False
    said = "cancelled: no job was found for it" if searched else "cancelled before any job"
    log.info(said, by=asked.by, reason=asked.reason)
    return True


def mark_submitting(store: RecordStore, name: str, generation: str) -> None:
    """tune, about to create the job: say so in the record, unless a cancel is there."""

    def mark(current: Record | None) -> Record | None:
        if current is None or current.cancel is not None or current.state in FINAL:
            raise CancelledBeforeJob(f"{name}#{generation}: cancelled before its job")
        return msgspec.structs.replace(current, submitting=datetime.now(UTC).isoformat())

    store.update(name, generation, mark)


def _marked(current: Record | None, asked: Cancel) -> Record | None:
    if current is None or current.state in FINAL or current.cancel is not None:
        return None
    return msgspec.structs.replace(current, cancel=asked)


def _before_any_job(current: Record | None, asked: Cancel) -> Record | None:
    """CANCELLED, unless tune has started creating the job (or recorded it)."""
    return _ended(current, asked, searched=False)


def _ended(current: Record | None, asked: Cancel, searched: bool) -> Record | None:
    """CANCELLED with no job; unless one is recorded, or (before tune `searched` for it)
    tune has started creating it."""
    if current is None or current.job is not None:
        return None
    if searched:
        why = f"cancelled by {asked.by}; no job was found ({asked.reason})"
    elif current.submitting is not None:
        return None
    else:
        why = f"cancelled by {asked.by} before any job ({asked.reason})"
    return advance(current, Stage.CANCELLED, "tune", error=Failure("cancelled", why))
