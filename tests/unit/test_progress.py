"""A running Gemini job's progress (v1beta1's tuningJobState and completed epochs) lands in its
record as the sweep reads it, is shown with the time left at its pace, and is written only when
it moved: a job that did not progress leaves the record untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.runs import runs, table
from codetune.state.records import Progress, describe
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryStorage
from tests.unit.test_app import ENVIRON, LEGACY, LOG, SETTINGS, STATE, store, validated


def running(vertex: FakeVertex, name: str, done: int, started: datetime) -> None:
    vertex.finish(
        name,
        "JOB_STATE_RUNNING",
        startTime=started.isoformat().replace("+00:00", "Z"),
        tuningJobState="TUNING_JOB_STATE_TUNING",
        tuningJobMetadata={"completedEpochCount": str(done)},
    )


def test_the_sweep_records_progress_and_only_when_it_moved() -> None:
    storage = MemoryStorage()
    message = validated(storage, "incoming/p.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    environ = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "4"}
    assert tune_dataset(message, storage, vertex, SETTINGS, environ, LOG) is Tuning.SUBMITTED
    [name] = vertex.jobs
    started = datetime.now(UTC) - timedelta(minutes=10)
    running(vertex, name, 1, started)
    sweep(store(storage), vertex, LOG)
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.progress is not None
    assert (record.progress.completed_epochs, record.progress.epochs) == (1, 4)
    shown = "\n".join(describe(record))
    assert "progress: tuning, 1 of 4 epochs done, about 30 min left" in shown
    key = store(storage).record_name(message.name, message.generation)
    before = storage.current(STATE, key)
    sweep(store(storage), vertex, LOG)  # no further: nothing written
    assert storage.current(STATE, key) == before
    running(vertex, name, 3, started)
    sweep(store(storage), vertex, LOG)
    moved = store(storage).record(message.name, message.generation)
    assert moved is not None and moved.progress is not None
    assert moved.progress.completed_epochs == 3
    vertex.finish(name, "JOB_STATE_SUCCEEDED", tunedModel={"model": "models/9"})
    sweep(store(storage), vertex, LOG)
    ended = store(storage).record(message.name, message.generation)
    assert ended is not None and "progress:" not in "\n".join(describe(ended))


def test_time_left_is_at_the_pace_of_the_epochs_done() -> None:
    read = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    progress = Progress(
        read=read.isoformat(),
        detail="TUNING_JOB_STATE_TUNING",
        completed_epochs=2,
        epochs=3,
        started=(read - timedelta(minutes=20)).isoformat(),
    )
    assert progress.seconds_left() == 600
    assert progress.describe() == "tuning, 2 of 3 epochs done, about 10 min left"
    waiting = Progress(read=read.isoformat(), detail="TUNING_JOB_STATE_WAITING_FOR_QUOTA")
    assert waiting.describe() == "queued by Vertex AI for quota" and waiting.seconds_left() is None


def test_a_running_pipeline_shows_its_running_task_in_the_record_and_in_runs() -> None:
    storage = MemoryStorage()
    message = validated(storage, "incoming/legacy.jsonl", dataset(generation_dataset(12)), LEGACY)
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [name] = vertex.jobs

    def tasks(*states: str) -> dict[str, object]:
        root = {"taskId": "1", "taskName": "tune-large-model-pipeline", "state": "RUNNING"}
        names = ("tune-large-model", "upload-llm-model")
        children = [
            {"taskId": str(i + 2), "parentTaskId": "1", "taskName": n, "state": s}
            for i, (n, s) in enumerate(zip(names, states, strict=True))
        ]
        return {"taskDetails": [root, *children]}

    vertex.finish(name, "PIPELINE_STATE_RUNNING", jobDetail=tasks("RUNNING", "PENDING"))
    sweep(store(storage), vertex, LOG)
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.progress is not None
    shown = "progress: running task tune-large-model (0 of 2 tasks done)"
    assert shown in "\n".join(describe(record))
    [row] = runs(store(storage))
    assert row.progress == "running task tune-large-model (0 of 2 tasks done)"
    assert row.progress in table([row])
    vertex.finish(name, "PIPELINE_STATE_RUNNING", jobDetail=tasks("SUCCEEDED", "RUNNING"))
    sweep(store(storage), vertex, LOG)
    moved = store(storage).record(message.name, message.generation)
    assert moved is not None and moved.progress is not None
    assert moved.progress.describe() == "running task upload-llm-model (1 of 2 tasks done)"
