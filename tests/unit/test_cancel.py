"""Cancel (codetune.app.cancel): a version's job is stopped, or none is ever created, whichever
of the cancel and tune gets to the record first; a cancel of an ended version changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from codetune.app import tune as tune_module
from codetune.app.cancel import Cancelling, cancel_dataset
from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.messages import CancelRequested, DatasetValidated
from codetune.state import Stage
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryStorage
from tests.unit.test_app import BUCKET, ENVIRON, LOG, SETTINGS, store, validated


def asked(message: DatasetValidated, by: str = "ana") -> CancelRequested:
    now = datetime.now(UTC).isoformat()
    return CancelRequested(BUCKET, message.name, message.generation, by, now)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def test_before_any_job_the_version_ends_cancelled_and_tune_creates_none(
    storage: MemoryStorage,
) -> None:
    message = validated(storage, "incoming/a.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG) is Cancelling.CANCELLED
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is not Tuning.SUBMITTED
    assert vertex.creates == 0
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.state is Stage.CANCELLED
    assert record.cancel is not None and record.cancel.by == "ana"
    assert record.error is not None and "cancelled by ana before any job" in str(
        record.error.message
    )


def test_a_submitted_job_is_cancelled_and_recorded_with_its_last_state(
    storage: MemoryStorage,
) -> None:
    message = validated(storage, "incoming/b.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [name] = vertex.jobs
    assert cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG) is Cancelling.STOPPING
    assert vertex.cancels == [name]
    vertex.finish(name, "JOB_STATE_CANCELLED", error={"code": 1, "message": "cancelled"})
    sweep(store(storage), vertex, LOG)
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.state is Stage.CANCELLED
    assert record.job is not None and record.job.state == "JOB_STATE_CANCELLED"
    assert record.cancel is not None and record.cancel.by == "ana"
    from codetune.state.records import describe, why_no_model

    assert why_no_model(record) == "cancelled by ana (asked)"  # runs' reason column
    assert any(line.startswith("  cancel asked by ana at ") for line in describe(record))
    # Twice, or once it has ended: nothing changes, nothing is sent.
    assert cancel_dataset(asked(message, "bo"), storage, vertex, SETTINGS, LOG) is Cancelling.ENDED
    assert vertex.cancels == [name]
    again = store(storage).record(message.name, message.generation)
    assert again is not None and again.cancel is not None and again.cancel.by == "ana"


def test_a_cancel_while_tune_creates_the_job_has_tune_cancel_it(storage: MemoryStorage) -> None:
    """tune wrote `submitting` first: the cancel leaves the job to tune, which stops it."""
    message = validated(storage, "incoming/c.jsonl", dataset(generation_dataset(12)))
    outcomes: list[Cancelling] = []
    vertex = FakeVertex()
    vertex.before_create = lambda name: outcomes.append(
        cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG)
    )
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    assert outcomes == [Cancelling.LEFT_TO_TUNE]
    assert vertex.cancels == list(vertex.jobs) and vertex.creates == 1


def test_a_cancel_just_before_tune_starts_creating_stops_the_create(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tune read the record before the cancel was written; the cancel wins the record first."""
    message = validated(storage, "incoming/d.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    mark = tune_module.mark_submitting

    def cancel_then_mark(*args: str) -> None:
        assert cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG) in (
            Cancelling.CANCELLED,
        )
        mark(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(tune_module, "mark_submitting", lambda s, n, g: cancel_then_mark(s, n, g))
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.CANCELLED
    assert vertex.creates == 0
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.state is Stage.CANCELLED


def test_a_job_that_ended_or_vanished_is_not_cancelled(storage: MemoryStorage) -> None:
    message = validated(storage, "incoming/e.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    [name] = vertex.jobs
    vertex.finish(name, "JOB_STATE_SUCCEEDED", tunedModel={"model": "models/1"})
    assert cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG) is Cancelling.ENDED
    del vertex.jobs[name]
    assert cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG) is Cancelling.ENDED
    assert vertex.cancels == []


def test_a_cancel_for_another_bucket_or_outside_the_uploads_is_dropped(
    storage: MemoryStorage,
) -> None:
    message = validated(storage, "incoming/f.jsonl", dataset(generation_dataset(12)))
    now = datetime.now(UTC).isoformat()
    for bucket, name in (("elsewhere", message.name), (BUCKET, "_codetune/records/x")):
        request = CancelRequested(bucket, name, message.generation, "eve", now)
        assert cancel_dataset(request, storage, FakeVertex(), SETTINGS, LOG) is Cancelling.DROPPED
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.cancel is None


def test_the_message_is_read_strictly() -> None:
    from codetune.exceptions import MessageError

    request = CancelRequested(BUCKET, "incoming/a.jsonl", "12", "ana", "2026-12-03T00:00:00Z")
    data, attributes = request.encode()
    assert CancelRequested.decode(data, attributes) == request
    with pytest.raises(MessageError):
        CancelRequested.decode(data, {**attributes, "type": "codetune.dataset.validated"})
    with pytest.raises(MessageError):
        CancelRequested.decode(data.replace(b'"12"', b'"12/../x"'), attributes)
    with pytest.raises(MessageError):
        CancelRequested.decode(data[:-1] + b',"host":"evil"}', attributes)


def test_with_supersede_cancel_a_new_version_cancels_the_older_ones_job(
    storage: MemoryStorage,
) -> None:
    import msgspec

    from codetune.app.validate import Validation, validate_upload
    from tests.unit.fakes import MemoryPublisher
    from tests.unit.test_app import upload

    first = validated(storage, "incoming/g.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(first, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs
    # The second upload is kept beside the first; the third supersedes both (neither ended).
    for setting, cancels in (("keep", 0), ("cancel", 2)):
        settings = msgspec.structs.replace(SETTINGS, supersede=setting)
        publisher = MemoryPublisher()
        newer = upload(storage, "incoming/g.jsonl", dataset(generation_dataset(13)))
        outcome = validate_upload(newer, storage, publisher, settings, LOG, None, ENVIRON)
        assert outcome is Validation.VALIDATED
        requests = [
            CancelRequested.decode(body, attributes)
            for _, body, attributes in publisher.messages
            if attributes["type"] == "codetune.dataset.cancel"
        ]
        assert len(requests) == cancels, setting
    [request] = [r for r in requests if r.generation == first.generation]
    assert request.by == "validate"
    assert request.reason.startswith("superseded by generation ")
    assert cancel_dataset(request, storage, vertex, SETTINGS, LOG) is Cancelling.STOPPING
    assert vertex.cancels == [job]


def test_supersede_takes_keep_or_cancel_and_nothing_else() -> None:
    from codetune.config import Settings

    assert Settings.from_environment({}).supersede == "keep"
    assert Settings.from_environment({"CODETUNE_SUPERSEDE": "cancel"}).supersede == "cancel"
    with pytest.raises(ValueError, match="CODETUNE_SUPERSEDE"):
        Settings.from_environment({"CODETUNE_SUPERSEDE": "yes"})


def test_a_cancel_while_a_create_is_refused_ends_cancelled_at_once(
    storage: MemoryStorage,
) -> None:
    """tune marked `submitting`, the cancel came, the create was refused (429: nothing made):
    the same delivery ends the version CANCELLED, and a later one changes nothing."""
    from codetune.exceptions import RetryableVertexError

    message = validated(storage, "incoming/h.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()

    def refused(name: str) -> None:
        assert cancel_dataset(asked(message), storage, vertex, SETTINGS, LOG) is (
            Cancelling.LEFT_TO_TUNE
        )
        raise RetryableVertexError("POST: 429 quota", 429, "RESOURCE_EXHAUSTED")

    vertex.before_create = refused
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.CANCELLED
    vertex.before_create = lambda name: None
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is (
        Tuning.ALREADY_SUBMITTED
    )
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.state is Stage.CANCELLED and vertex.creates == 0
