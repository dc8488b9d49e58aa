"""The reconciler: what the scheduled sweep does besides re-reading jobs, so that whatever
event is lost, every dataset reaches an end.

Level-triggered and bounded: each run looks at the state as it is, never at the events that
should have come, and one bad object is logged and skipped. It pays by the page, not by the
object: one listing of the uploads and one of the records (each record's stage travels in its
object metadata) find what needs work, and only those objects, at most `limit` of each kind,
are read. Nothing paid is done here: an upload with no record is validated (which announces
it), and a VALIDATED dataset with no job is announced again; tune, idempotent, does the rest.
Validations come last and within the sweep's time, so that a large one never keeps the
announcements from going out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from codetune.app.finished import announce
from codetune.config import Settings
from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole
from codetune.events import StorageObject
from codetune.logs import Logger, correlation_id
from codetune.messages import DatasetValidated
from codetune.ports import ObjectStore, Publisher
from codetune.state import FINAL, RecordStore, Stage
from codetune.state.store import dataset_key
from codetune.tuning.manifest import DATASET_SUFFIX

# How far back the sweep looks for ended datasets that were never announced.
ANNOUNCE_WINDOW_SECONDS = 24 * 3600


class ReconcileResult(msgspec.Struct, frozen=True):
    validated: int = 0  # uploads that had no record
    announced: int = 0  # VALIDATED datasets announced again
    stuck: int = 0  # datasets not at an end after `stuck_seconds`
    skipped: int = 0  # unreadable objects
    finished: int = 0  # ended datasets whose "dataset finished" message is sent now
    deferred: int = 0  # uploads with no record left for the next sweep (no time left)


def reconcile(
    storage: ObjectStore,
    publisher: Publisher,
    settings: Settings,
    log: Logger,
    environ: dict[str, str],
    now: datetime | None = None,
    limit: int = 500,
    started: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ReconcileResult:
    """One pass; `started` is when the sweep began, on `clock` (default: now), from which it
    has `settings.sweep_seconds`."""
    now = now or datetime.now(UTC)
    grace_seconds, stuck_seconds = settings.reconcile_grace_seconds, settings.stuck_seconds
    store = RecordStore.of(storage, settings)
    skipped: list[str] = []

    def bad(name: str, fault: Exception) -> None:
        skipped.append(name)
        log.error("unreadable object: skipped", object=name, error=str(fault))

    announced = stuck = 0
    records = store.listed_records()  # one listing serves every loop below
    # Datasets whose "dataset validated" message was lost or dead-lettered: announce again.
    for dataset, generation, record in store.unfinished(records, bad, limit):
        age = _age(now, record.updated)
        if (
            record.state is Stage.VALIDATED
            and record.role == DatasetRole.TRAINING
            and age > grace_seconds
        ):
            message = DatasetValidated(
                settings.bucket,
                dataset,
                generation,
                DatasetKind(record.kind or "generation"),
                DatasetRole.TRAINING,
                record.examples or 0,
                record.report or "",
                record.correlation_id or "",
                {},
                None,
                DatasetFormat(record.format or DatasetFormat.SEED),
            )
            data, attributes = message.encode()
            publisher.publish(settings.validated_topic_path, data, attributes)
            announced += 1
            log.bind(record.correlation_id or "").warning(
                "validated dataset had no job: announced again",
                dataset=record.dataset,
                age_seconds=round(age),
            )
        elif record.state not in FINAL and age > stuck_seconds:
            stuck += 1
            log.bind(record.correlation_id or "").warning(
                "dataset not at an end",
                dataset=record.dataset,
                stage=str(record.state),
                age_seconds=round(age),
            )
    # Ended datasets whose "dataset finished" message was never sent (a crash between the
    # record and the publish); records that ended before ANNOUNCE_WINDOW are left alone, so
    # that a new deployment does not announce its history.
    finished = 0
    since = now - timedelta(seconds=ANNOUNCE_WINDOW_SECONDS)
    for dataset, generation in store.unannounced(records, bad, limit, since):
        finished += announce(dataset, generation, store, publisher, settings, log) is not None
    # Last, as they may take minutes: uploads whose storage event was lost are validated here,
    # each only with a whole validation's time ahead (the rest wait for the next sweep).
    validated = deferred = 0
    deadline = (clock() if started is None else started) + settings.sweep_seconds
    recorded = store.recorded(records)
    for listed in storage.list_objects(settings.bucket, settings.upload_prefix):
        name = listed.name
        if not name.lower().endswith(DATASET_SUFFIX) or store.is_system_object(name):
            continue
        if (dataset_key(name), listed.generation) in recorded:
            continue
        if listed.updated is None or (now - listed.updated).total_seconds() < grace_seconds:
            continue  # its event may still be on its way
        if validated >= limit or clock() + settings.validation_seconds > deadline:
            deferred += 1
            continue
        # Here, not at import: only a lost upload needs the validator, and the sweep's cold
        # start then skips it (benchmarks/README.md).
        from codetune.app.validate import Validation, validate_upload

        obj = StorageObject(settings.bucket, name, listed.generation, listed.metadata)
        with log.bound(correlation_id(obj.uri, obj.generation)) as dataset_log:
            outcome = validate_upload(obj, storage, publisher, settings, dataset_log, None, environ)
        validated += outcome in (Validation.VALIDATED, Validation.REJECTED)
    if deferred:
        log.info("missed uploads left for the next sweep: no time left", uploads=deferred)
    return ReconcileResult(validated, announced, stuck, len(skipped), finished, deferred)


def _age(now: datetime, updated: str | None) -> float:
    return 0.0 if updated is None else (now - datetime.fromisoformat(updated)).total_seconds()
