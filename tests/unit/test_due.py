"""The sweep's schedule (codetune.state.due): each version in the index of unfinished work is
due when the sweep next has work for it, so that a sweep reads only the records that are due
and does each piece of work once a wait, not at every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from codetune.app.reconcile import reconcile
from codetune.app.validate import Validation, validate_upload
from codetune.evaluation.plan import Evaluation, EvaluationPlan, EvaluationState
from codetune.state import Stage
from codetune.state.due import (
    DUE_METADATA,
    Timing,
    Work,
    after_work,
    listed_due,
    moved_earlier,
    next_work,
)
from codetune.state.records import SLOT_WAIT, Announced, Failure, Record
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import ENVIRON, LEGACY, LOG, SETTINGS, STATE, store, submitted, upload

T0 = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
TIMING = Timing(grace=300, stuck=3600, slot_retry=60)
PLAN = EvaluationPlan("gs://b/e.jsonl", "gs://b-state/e.jsonl", "seed", 10, 10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(seconds: float) -> str:
    return at(seconds).isoformat()


def record(state: Stage, **fields: object) -> Record:
    return msgspec.structs.replace(Record(state, updated=iso(0)), **fields)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("version", "due"),
    [
        (record(Stage.VALIDATED, role="training"), (at(300), Work.ANNOUNCE)),
        (
            record(Stage.VALIDATED, waiting=Failure(reason=SLOT_WAIT, time=iso(30))),
            (at(90), Work.SLOT),
        ),
        (record(Stage.RUNNING), (at(3600), Work.STUCK)),
        (
            record(
                Stage.EVALUATING,
                evaluation=Evaluation(PLAN, state=EvaluationState.REQUESTED, requested=iso(10)),
            ),
            (at(310), Work.EVALUATION),
        ),
        (
            record(
                Stage.EVALUATING,
                evaluation=Evaluation(PLAN, state=EvaluationState.RUNNING, lease=iso(900)),
            ),
            (at(900), Work.EVALUATION),
        ),
        (  # a lease past the stuck report: the report comes first
            record(
                Stage.EVALUATING,
                evaluation=Evaluation(PLAN, state=EvaluationState.RUNNING, lease=iso(9000)),
            ),
            (at(3600), Work.STUCK),
        ),
        (record(Stage.SUCCEEDED), (at(0), Work.END)),
        (record(Stage.SUCCEEDED, announced=Announced(message_id="7")), None),
        (record(Stage.VALIDATED, role="evaluation"), None),  # tuned only with its training set
        (record(Stage.RUNNING, updated="not a time"), (at(3600 - T0.timestamp()), Work.STUCK)),
    ],
)
def test_a_version_is_due_when_its_record_says_the_sweep_has_work(
    version: Record, due: tuple[datetime, Work] | None
) -> None:
    found = next_work(version, TIMING)
    if due is None:
        assert found is None
    else:
        assert found is not None and (found.time, found.work) == due


@pytest.mark.unit
def test_a_write_that_starts_other_work_or_brings_it_forward_moves_the_entry() -> None:
    validated = record(Stage.VALIDATED)
    running = record(Stage.RUNNING, updated=iso(100))
    waiting = record(Stage.VALIDATED, waiting=Failure(reason=SLOT_WAIT, time=iso(10)))
    assert moved_earlier(None, validated, TIMING) == (at(300), Work.ANNOUNCE)  # created
    assert moved_earlier(validated, waiting, TIMING) == (at(70), Work.SLOT)
    assert moved_earlier(running, record(Stage.FAILED, updated=iso(200)), TIMING) == (
        at(200),
        Work.END,
    )
    # Only the stuck report ahead, or the same work later: the entry, earlier, stands.
    assert moved_earlier(validated, running, TIMING) is None
    again = record(Stage.VALIDATED, waiting=Failure(reason=SLOT_WAIT, time=iso(50)))
    assert moved_earlier(waiting, again, TIMING) is None
    done = record(Stage.SUCCEEDED, announced=Announced(message_id="1"))
    assert moved_earlier(record(Stage.SUCCEEDED), done, TIMING) is None


@pytest.mark.unit
def test_work_done_now_is_due_again_after_its_wait() -> None:
    assert after_work(next_work(record(Stage.VALIDATED), TIMING), at(400), TIMING) == at(700)  # type: ignore[arg-type]
    assert after_work(next_work(record(Stage.RUNNING), TIMING), at(10), TIMING) == at(3600)  # type: ignore[arg-type]
    assert after_work(next_work(record(Stage.RUNNING), TIMING), at(4000), TIMING) == at(4300)  # type: ignore[arg-type]
    assert after_work(next_work(record(Stage.FAILED), TIMING), at(50), TIMING) == at(50)  # type: ignore[arg-type]


@pytest.mark.unit
def test_an_entry_without_a_due_time_or_with_a_bad_one_is_due_now() -> None:
    assert listed_due({}) < T0
    assert listed_due({DUE_METADATA: "soon"}) < T0
    assert listed_due({DUE_METADATA: iso(5)}) == at(5)


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def lost(storage: MemoryStorage, name: str) -> None:
    """Validated, its "dataset validated" message lost."""
    obj = upload(storage, name, dataset(generation_dataset(12)))
    outcome = validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    assert outcome is Validation.VALIDATED


@pytest.mark.unit
def test_a_lost_message_is_announced_again_once_a_grace_not_at_every_sweep() -> None:
    """At load, tune is minutes behind: the sweep of every minute (every second locally) sent
    every VALIDATED dataset past the grace again, each run, adding to what tune works through."""
    storage = MemoryStorage()
    lost(storage, "incoming/quiet.jsonl")

    def announced(minutes: float) -> int:
        return reconcile(
            storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(minutes)
        ).announced

    assert announced(4) == 0  # within the grace (5 minutes)
    assert [announced(6), announced(7), announced(10)] == [1, 0, 0]
    assert announced(11.5) == 1  # a grace after the last


@pytest.mark.unit
def test_a_sweep_reads_only_the_records_that_are_due() -> None:
    storage = MemoryStorage()

    def reads(minutes: float) -> int:
        storage.json_reads = 0
        reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(minutes))
        return storage.json_reads

    lost(storage, "incoming/a.jsonl")
    few = reads(1)
    for index in range(30):
        lost(storage, f"incoming/b{index:02d}.jsonl")
    assert reads(1) == few == 1  # the scan's cursor: 31 versions with work left, none due
    assert reads(6) == 1 + 31  # all due: each record once


@pytest.mark.unit
def test_a_job_that_ended_unannounced_is_announced_at_the_next_sweep() -> None:
    """The entry of a running job is due at its stuck report, hours away; the job's end (the
    announcement lost to a crash) brings it forward."""
    storage = MemoryStorage()
    message = submitted(storage, "incoming/s.jsonl", FakeVertex(), **LEGACY)
    publisher = MemoryPublisher()
    assert reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(10)).finished == 0
    store(storage).advance(message.name, message.generation, Stage.FAILED, "status")
    assert reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(11)).finished == 1
    assert [n for _, n in storage.live if n.startswith("_codetune/unfinished/")] == []


@pytest.mark.unit
def test_a_slot_wait_after_a_second_announcement_is_tried_after_the_slot_wait() -> None:
    storage = MemoryStorage()
    lost(storage, "incoming/w.jsonl")
    assert reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(6)).announced == 1
    [(key, generation)] = [
        (n.split("/records/")[1].rpartition("/")[0], n.rpartition("/")[2].removesuffix(".json"))
        for b, n in storage.live
        if b == STATE and "/records/" in n
    ]
    refused = Failure(reason=SLOT_WAIT, message="waiting", time=later(6).isoformat())
    store(storage).update(
        key,
        generation,
        lambda r: None if r is None else msgspec.structs.replace(r, waiting=refused),
    )
    # Due a slot wait (1 minute) after the refusal, not a grace after the announcement.
    assert reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(7.5)).announced == 1
