"""When the sweep next has work for a dataset version, and what work: kept with the version's
entry in the index of unfinished work, so that a sweep reads only the records that are due.

Without it every sweep read every record with work left, and re-announced every VALIDATED
dataset past the grace at every run: at 2,000 drops a second's sweep published hundreds of
copies of messages tune was still working through, which slowed tune further (issue 26).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, Protocol

import msgspec

from codetune.evaluation.plan import EvaluationState
from codetune.state.records import FINAL, SLOT_WAIT, Record, Stage

# The index entry's custom metadata key holding its due time (ISO 8601): a listing of the index
# tells which entries are due without reading them. An entry without it is due now.
DUE_METADATA = "codetune-due"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Timings(Protocol):
    """What the schedule needs of the deployment's settings (codetune.config.Settings)."""

    @property
    def reconcile_grace_seconds(self) -> float: ...

    @property
    def stuck_seconds(self) -> float: ...

    @property
    def slot_retry_seconds(self) -> float: ...


class Timing(msgspec.Struct, frozen=True):
    """The sweep's waits, in seconds (Settings' defaults)."""

    grace: float = 300  # before a lost message or event is made good
    stuck: float = 3 * 3600  # before a version short of an end is reported
    slot_retry: float = 60  # before a dataset waiting for a tuning slot is tried again

    @classmethod
    def of(cls, settings: Timings) -> Timing:
        return cls(
            settings.reconcile_grace_seconds, settings.stuck_seconds, settings.slot_retry_seconds
        )


class Work(StrEnum):
    """What the sweep has to do for a version when it is due."""

    ANNOUNCE = "announce"  # a VALIDATED dataset's message may be lost: announce it again
    SLOT = "slot"  # waiting for a tuning slot: submit it again
    EVALUATION = "evaluation"  # an evaluation request may be lost, or its lease ran out
    END = "end"  # ended, the end not announced yet
    STUCK = "stuck"  # nothing but to report it if it is not at an end by then


class Due(NamedTuple):
    time: datetime
    work: Work


def next_work(record: Record, timing: Timing) -> Due | None:
    """When the sweep next has work for this version, from the record alone; None when it never
    will (its end announced, or an evaluation dataset's record)."""
    if record.state in FINAL:
        announced = record.announced and record.announced.message_id
        return None if announced else Due(_time(record.updated), Work.END)
    if record.role == "evaluation":
        return None
    stuck = _time(record.updated) + timedelta(seconds=timing.stuck)
    due = Due(stuck, Work.STUCK)
    if record.state is Stage.VALIDATED:
        waiting = record.waiting
        if waiting and waiting.reason == SLOT_WAIT:
            due = Due(_time(waiting.time) + timedelta(seconds=timing.slot_retry), Work.SLOT)
        else:
            due = Due(_time(record.updated) + timedelta(seconds=timing.grace), Work.ANNOUNCE)
    elif record.state is Stage.EVALUATING and record.evaluation is not None:
        evaluation = record.evaluation
        if evaluation.state is EvaluationState.REQUESTED:
            grace = timedelta(seconds=timing.grace)
            due = Due(_time(evaluation.requested) + grace, Work.EVALUATION)
        elif evaluation.state is EvaluationState.RUNNING:
            due = Due(_time(evaluation.lease), Work.EVALUATION)
    return due if due.time <= stuck else Due(stuck, Work.STUCK)


def moved_earlier(before: Record | None, after: Record, timing: Timing) -> Due | None:
    """The new due time a record write must give the index, or None when the entry's time
    stands. The entry's time is never later than the work it stands for: a write that starts
    other work (a slot wait, an evaluation, an end) or brings work forward moves it. One that
    only leaves the stuck report, or puts work later, leaves it early: the sweep then reads the
    record once and puts the entry where the record says."""
    new = next_work(after, timing)
    if new is None:
        return None
    old = None if before is None else next_work(before, timing)
    if old is None or new.time < old.time or (new.work != old.work and new.work != Work.STUCK):
        return new
    return None


def after_work(due: Due, now: datetime, timing: Timing) -> datetime:
    """When a version the sweep just looked at is next due: where its record says, or, for work
    that was due and done now (or could not be: no free slot), after that work's wait."""
    if due.time > now:
        return due.time
    wait = {
        Work.ANNOUNCE: timing.grace,
        Work.SLOT: timing.slot_retry,
        Work.EVALUATION: timing.grace,
        Work.END: 0.0,  # announced now, or not (a failed publish): the next sweep tries again
        # Reported again each grace while it stays short of an end: the stuck alert's window
        # (codetune.monitoring) is longer, so its incident stays open until the version ends.
        Work.STUCK: timing.grace,
    }[due.work]
    return now + timedelta(seconds=wait)


def due_metadata(time: datetime) -> dict[str, str]:
    return {DUE_METADATA: time.astimezone(UTC).isoformat()}


def listed_due(metadata: dict[str, str]) -> datetime:
    """An index entry's due time from its listed metadata: a missing or unreadable one (an
    entry written before due times, or tampered with) is due now."""
    return _time(metadata.get(DUE_METADATA))


def _time(value: str | None) -> datetime:
    """A stored time; a missing or unreadable one is the epoch, so that its work is due now."""
    try:
        moment = datetime.fromisoformat(value) if value else _EPOCH
    except ValueError:
        return _EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
