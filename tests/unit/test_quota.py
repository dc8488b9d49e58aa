"""Many datasets, few tuning slots: a create Vertex AI refuses for the project's quota (429
RESOURCE_EXHAUSTED), or one the deployment's count of slots holds back, leaves the dataset
waiting in its record with the message done with (no redelivery storm, nothing dead-lettered);
the sweep submits the waiting datasets again, oldest first, as slots free up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from codetune.app.reconcile import reconcile
from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.config import Settings
from codetune.messages import MESSAGE_TYPE, DatasetValidated
from codetune.runs import runs
from codetune.state import Stage
from codetune.state.records import SLOT_WAIT
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import ENVIRON, LOG, SETTINGS, store, validated


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def drop(storage: MemoryStorage, count: int) -> list[DatasetValidated]:
    return [
        validated(storage, f"incoming/q{count - i}.jsonl", dataset(generation_dataset(12)))
        for i in range(count)
    ]


def tune_all(
    messages: list[DatasetValidated], storage: MemoryStorage, vertex: FakeVertex, settings: Settings
) -> list[Tuning]:
    return [tune_dataset(m, storage, vertex, settings, ENVIRON, LOG) for m in messages]


def announced(publisher: MemoryPublisher) -> list[DatasetValidated]:
    return [
        DatasetValidated.decode(data, attributes)
        for _, data, attributes in publisher.messages
        if attributes.get("type") == MESSAGE_TYPE
    ]


def finish_all(storage: MemoryStorage, vertex: FakeVertex) -> None:
    for name, job in vertex.jobs.items():
        if job["state"] == "JOB_STATE_PENDING":
            vertex.finish(name, "JOB_STATE_SUCCEEDED", tunedModel={"model": "models/1"})
    sweep(store(storage), vertex, LOG)


def test_a_create_refused_for_quota_waits_in_the_record_and_is_done_with() -> None:
    storage, vertex = MemoryStorage(), FakeVertex()
    vertex.quota = 1
    first, second = drop(storage, 2)
    # Returning (not raising) acknowledges the message: Pub/Sub does not deliver it again.
    assert tune_all([first, second], storage, vertex, SETTINGS) == [
        Tuning.SUBMITTED,
        Tuning.WAITING,
    ]
    assert (vertex.creates, vertex.refused) == (1, 1)
    record = store(storage).record(second.name, second.generation)
    assert record is not None and record.state is Stage.VALIDATED
    assert record.waiting is not None and record.waiting.reason == SLOT_WAIT
    assert record.waiting.message == (
        "waiting for a tuning slot: Vertex AI refused the job for the project's quota "
        "(429 RESOURCE_EXHAUSTED)"
    )
    assert record.submitting is None  # nothing was created: a cancel ends it at once
    claims = [
        store(storage).claim(n.rpartition("/")[2].removesuffix(".json"))[0]
        for _, n in storage.live
        if n.startswith("_codetune/claims/")
    ]
    # The refused create's claim was released: the next delivery may create at once.
    released = [c for c in claims if c is not None and c.job is None]
    assert len(claims) == 2 and [c.since for c in released] == [0.0]
    rows = {r.dataset.rpartition("/")[2]: r for r in runs(store(storage))}
    assert rows["q1.jsonl"].reason == record.waiting.message  # the second uploaded


def test_the_sweep_submits_the_waiting_oldest_first_one_probe_a_pass() -> None:
    storage, vertex, publisher = MemoryStorage(), FakeVertex(), MemoryPublisher()
    vertex.quota = 1
    messages = drop(storage, 4)
    assert tune_all(messages, storage, vertex, SETTINGS).count(Tuning.WAITING) == 3
    # Not before slot_retry_seconds since the refusal.
    assert reconcile(storage, publisher, SETTINGS, LOG, ENVIRON, now=later(0.5)).announced == 0
    finish_all(storage, vertex)
    result = reconcile(storage, publisher, SETTINGS, LOG, ENVIRON, now=later(2))
    assert result.announced == 1  # slots not known: one a pass
    [again] = announced(publisher)
    assert again.name == messages[1].name  # the oldest waiting
    assert tune_all([again], storage, vertex, SETTINGS) == [Tuning.SUBMITTED]
    for _ in range(2):
        finish_all(storage, vertex)
        publisher.messages.clear()
        reconcile(storage, publisher, SETTINGS, LOG, ENVIRON, now=later(2))
        assert tune_all(announced(publisher), storage, vertex, SETTINGS) == [Tuning.SUBMITTED]
    finish_all(storage, vertex)
    ended = [store(storage).record(m.name, m.generation) for m in messages]
    assert [r.state if r else None for r in ended] == [Stage.SUCCEEDED] * 4
    assert vertex.creates == 4 and vertex.refused == 3


def test_with_the_slots_known_no_create_is_sent_past_them() -> None:
    storage, vertex, publisher = MemoryStorage(), FakeVertex(), MemoryPublisher()
    settings = msgspec.structs.replace(SETTINGS, tuning_slots=2)
    messages = drop(storage, 5)
    assert (
        tune_all(messages, storage, vertex, settings)
        == [Tuning.SUBMITTED] * 2 + [Tuning.WAITING] * 3
    )
    assert vertex.creates == 2  # never asked for the rest
    record = store(storage).record(messages[4].name, messages[4].generation)
    assert record is not None and record.waiting is not None
    assert record.waiting.message == "waiting for a tuning slot: 2 of 2 tuning slots in use"
    # Both slots busy: nothing is announced, however long they wait.
    assert reconcile(storage, publisher, settings, LOG, ENVIRON, now=later(10)).announced == 0
    finish_all(storage, vertex)
    assert reconcile(storage, publisher, settings, LOG, ENVIRON, now=later(10)).announced == 2
    assert [m.name for m in announced(publisher)] == [messages[2].name, messages[3].name]  # oldest


def test_tuning_slots_is_a_count() -> None:
    assert Settings.from_environment({"CODETUNE_TUNING_SLOTS": "4"}).tuning_slots == 4
    assert Settings.from_environment({}).tuning_slots == 0
    with pytest.raises(ValueError, match="CODETUNE_TUNING_SLOTS must be a whole number"):
        Settings.from_environment({"CODETUNE_TUNING_SLOTS": "two"})
