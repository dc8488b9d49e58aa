"""The reconciler: what the scheduled sweep does besides re-reading jobs, so that whatever
event is lost, every dataset reaches an end.

Level-triggered and bounded: each run looks at the state as it is, never at the events that
should have come, and one bad object is logged and skipped. Its cost grows with the work due,
not with the history nor with the work not due yet: the index of versions with work left
(`unfinished/`) is listed, the records of the entries that are due (codetune.state.due) are
read, and each is put back at its next due time; one window of the uploads (`scan_size`, with
their records, a page of each) is looked at for uploads whose event was lost, the next window
at the next run. Nothing paid is done here: an upload with no record is validated (which
announces it), and a VALIDATED dataset with no job is announced again, once a grace period;
tune, idempotent, does the rest.
Validations come last and within the sweep's time, so that a large one never keeps the
announcements from going out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from codetune.app.finished import announce, request_evaluation
from codetune.config import Settings
from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole
from codetune.evaluation.plan import EvaluationState
from codetune.events import StorageObject
from codetune.logs import Logger, correlation_id
from codetune.messages import DatasetValidated
from codetune.ports import ObjectStore, Publisher
from codetune.state import FINAL, Record, RecordStore, Stage
from codetune.state.due import after_work, next_work
from codetune.state.records import SLOT_WAIT, Failure
from codetune.state.store import Scan, Unfinished, dataset_key
from codetune.tuning.manifest import DATASET_SUFFIX

# Uploads looked at a run for a lost event: one listing page (at 30,000 objects under the
# upload prefix, each is looked at every 30 runs: 30 minutes at the default schedule).
SCAN_SIZE = 1000
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
    scan_size: int = SCAN_SIZE,
) -> ReconcileResult:
    """One pass, in three steps over one listing of the records; `started` is when the sweep
    began, on `clock` (default: now), from which it has `settings.sweep_seconds`."""
    sweep = _Pass(RecordStore.of(storage, settings), publisher, settings, log, now, limit)
    # The scan first: what it puts in the index (records written before it) is read now.
    scan = sweep.store.scan(settings.upload_prefix, scan_size)
    work = sweep.store.unfinished_work(sweep.bad, 2 * limit, scan.indexed, sweep.now)
    unended = [w for w in work if w.record.state not in FINAL]
    announced, stuck = sweep.announce_validated(unended)
    finished = sweep.announce_ended([w for w in work if w.record.state in FINAL])
    sweep.reschedule(unended[:limit])
    deadline = (clock() if started is None else started) + settings.sweep_seconds
    validated, deferred = sweep.validate_missed(scan, environ, deadline, clock)
    return ReconcileResult(validated, announced, stuck, len(sweep.skipped), finished, deferred)


class _Pass:
    """One reconciler pass: what its steps share."""

    def __init__(
        self,
        store: RecordStore,
        publisher: Publisher,
        settings: Settings,
        log: Logger,
        now: datetime | None,
        limit: int,
    ) -> None:
        self.store, self.publisher, self.settings, self.log = store, publisher, settings, log
        self.now, self.limit = now or datetime.now(UTC), limit
        self.skipped: list[str] = []
        self.queued: set[str] = set()  # entries waiting for a slot and not submitted this pass

    def bad(self, name: str, fault: Exception) -> None:
        self.skipped.append(name)
        self.log.error("unreadable object: skipped", object=name, error=str(fault))

    def reschedule(self, work: list[Unfinished]) -> None:
        """Put each version looked at back in the index at its next due time. (An ended one
        leaves the index once its end is announced, and stays due until then.)"""
        timing = self.store.timing
        for item in work:
            if item.entry.record in self.queued:
                continue  # waits for a free slot: due at every run until one frees
            due = next_work(item.record, timing)
            if due is not None:
                self.store.reschedule(item, after_work(due, self.now, timing))

    def announce_validated(self, work: list[Unfinished]) -> tuple[int, int]:
        """Datasets whose "dataset validated" message was lost or dead-lettered are announced
        again, and those waiting for a tuning slot as slots free up; those not at an end after
        `stuck_seconds` are reported. (announced, stuck)"""
        announced = stuck = 0
        settings = self.settings
        queue: list[Unfinished] = []
        for item in work[: self.limit]:
            dataset, generation, record = item.dataset, item.generation, item.record
            age = _age(self.now, record.updated)
            log = self.log.bind(record.correlation_id or "")
            training = record.state is Stage.VALIDATED and record.role == DatasetRole.TRAINING
            if training and record.waiting and record.waiting.reason == SLOT_WAIT:
                queue.append(item)
            elif training and age > settings.reconcile_grace_seconds:
                self.announce(dataset, generation, record)
                announced += 1
                log.warning(
                    "validated dataset had no job: announced again",
                    dataset=record.dataset,
                    age_seconds=round(age),
                )
                continue
            if record.state is Stage.EVALUATING and self.evaluation_lost(record):
                request_evaluation(self.store, dataset, record, self.publisher, settings, log)
                announced += 1
                log.warning("evaluation had no answer: requested again", dataset=record.dataset)
            if record.state not in FINAL and age > settings.stuck_seconds:
                stuck += 1
                log.warning(
                    "dataset not at an end",
                    dataset=record.dataset,
                    stage=str(record.state),
                    age_seconds=round(age),
                )
        return announced + self.submit_waiting(queue), stuck

    def evaluation_lost(self, record: Record) -> bool:
        """An evaluation asked for but not begun after the grace (its request lost), or begun by
        a delivery whose lease ran out (it died): it is asked for again."""
        evaluation = record.evaluation
        if evaluation is None:
            return False
        if evaluation.state is EvaluationState.REQUESTED:
            grace = self.settings.reconcile_grace_seconds
            return not evaluation.requested or _age(self.now, evaluation.requested) > grace
        if evaluation.state is EvaluationState.RUNNING:
            return _age(self.now, evaluation.lease) > 0
        return False

    def submit_waiting(self, queue: list[Unfinished]) -> int:
        """Announce again the datasets waiting for a tuning slot, oldest validation first: as
        many as the deployment's slots have free, or (slots not known) one, a probe of the
        quota; each only after `slot_retry_seconds` since it was refused."""
        settings = self.settings
        slots = settings.tuning_slots
        free = max(0, slots - self.store.open_job_count()) if slots and queue else 1
        due = [
            entry
            for entry in queue
            if _age(self.now, (entry.record.waiting or Failure()).time)
            >= settings.slot_retry_seconds
        ]
        due.sort(key=lambda entry: entry.record.history[0].time if entry.record.history else "")
        self.queued = {entry.entry.record for entry in due[free:]}
        for dataset, generation, record, _ in due[:free]:
            self.announce(dataset, generation, record)
            self.log.bind(record.correlation_id or "").info(
                "dataset waiting for a tuning slot: submitted again",
                dataset=record.dataset,
                waiting=len(queue),
            )
        return len(due[:free])

    def announce(self, dataset: str, generation: str, record: Record) -> None:
        data, attributes = _validated(self.settings.bucket, dataset, generation, record).encode()
        self.publisher.publish(self.settings.validated_topic_path, data, attributes)

    def announce_ended(self, work: list[Unfinished]) -> int:
        """Ended datasets whose "dataset finished" message was never sent (a crash between the
        record and the publish); records that ended before ANNOUNCE_WINDOW are left alone, so
        that a new deployment does not announce its history."""
        since = self.now - timedelta(seconds=ANNOUNCE_WINDOW_SECONDS)
        finished = 0
        for dataset, generation, record, _ in work[: self.limit]:
            if record.updated is not None and datetime.fromisoformat(record.updated) < since:
                self.store.settled(dataset, generation)  # history: left unannounced
                continue
            message = announce(
                dataset, generation, self.store, self.publisher, self.settings, self.log
            )
            finished += message is not None
        return finished

    def validate_missed(
        self,
        scan: Scan,
        environ: dict[str, str],
        deadline: float,
        clock: Callable[[], float],
    ) -> tuple[int, int]:
        """Uploads whose storage event was lost, last as they may take minutes: each only with
        a whole validation's time ahead (the rest wait for the next sweep). (validated,
        deferred)"""
        settings, store = self.settings, self.store
        validated = deferred = 0
        recorded = scan.recorded
        for listed in scan.uploads:
            name = listed.name
            if not name.lower().endswith(DATASET_SUFFIX) or store.is_system_object(name):
                continue
            if (dataset_key(name), listed.generation) in recorded:
                continue
            updated = listed.updated
            if (
                updated is None
                or (self.now - updated).total_seconds() < settings.reconcile_grace_seconds
            ):
                continue  # its event may still be on its way
            if validated >= self.limit or clock() + settings.validation_seconds > deadline:
                deferred += 1
                continue
            # Here, not at import: only a lost upload needs the validator, and the sweep's
            # cold start then skips it (benchmarks/README.md).
            from codetune.app.validate import Validation, validate_upload

            obj = StorageObject(settings.bucket, name, listed.generation, listed.metadata)
            with self.log.bound(correlation_id(obj.uri, obj.generation)) as log:
                outcome = validate_upload(
                    obj, store.storage, self.publisher, settings, log, None, environ
                )
            validated += outcome in (Validation.VALIDATED, Validation.REJECTED)
        if deferred:
            self.log.info("missed uploads left for the next sweep: no time left", uploads=deferred)
        return validated, deferred


def _validated(bucket: str, dataset: str, generation: str, record: Record) -> DatasetValidated:
    """The "dataset validated" message of a recorded version, as validate would publish it."""
    return DatasetValidated(
        bucket,
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


def _age(now: datetime, updated: str | None) -> float:
    return 0.0 if updated is None else (now - datetime.fromisoformat(updated)).total_seconds()
