"""Pure pieces of the chain: records that only move forward, event parsing, the validated
message, and finding the tuned model in a finished job."""

from __future__ import annotations

import base64

import msgspec
import orjson
import pytest

from codetune import events
from codetune.dataset import DatasetKind, DatasetRole
from codetune.exceptions import InputError
from codetune.logs import correlation_id
from codetune.messages import DatasetValidated, MessageError
from codetune.state import (
    JobPointer,
    JobRef,
    Record,
    RecordStore,
    Stage,
    describe,
    report_name,
)
from codetune.state.records import Claim, Inputs, Tokens, TunedModel, advance
from codetune.tuning.backends import pipeline as jobs
from codetune.tuning.backends.base import job_error


# --- Records ----------------------------------------------------------------------------------
def test_records_move_forward_and_keep_their_history() -> None:
    record = advance(
        None, Stage.VALIDATED, "validate", dataset="gs://b/incoming/a.jsonl", examples=12
    )
    assert record is not None
    record = advance(record, Stage.SUBMITTED, "tune", job=JobRef("j"))
    assert record is not None
    record = advance(record, Stage.RUNNING, "status")
    assert record is not None and record.state is Stage.RUNNING
    assert [h.state for h in record.history] == ["VALIDATED", "SUBMITTED", "RUNNING"]
    assert record.examples == 12 and record.job == JobRef("j")
    document = record.to_json()
    assert document["job"] == {"name": "j"} and document["state"] == "RUNNING"
    assert Record.from_json(document) == record


def test_pointers_and_claims_round_trip_through_json() -> None:
    pointer = JobPointer(
        "projects/p/locations/l/tuningJobs/7", "gemini", "b", "incoming/a.jsonl", "1", "ct-1"
    )
    assert JobPointer.from_json(pointer.to_json()) == pointer and pointer.job_id == "7"
    claim = Claim("abc", 12.5, "projects/p/locations/l/tuningJobs/7")
    assert Claim.from_json(claim.to_json()) == claim


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (Stage.RUNNING, Stage.QUEUED),
        (Stage.RUNNING, Stage.RUNNING),  # a duplicate
        (Stage.RUNNING, Stage.SUBMITTED),
        (Stage.SUCCEEDED, Stage.RUNNING),
        (Stage.SUCCEEDED, Stage.FAILED),
        (Stage.FAILED, Stage.SUCCEEDED),
        (Stage.REJECTED, Stage.VALIDATED),
        (Stage.QUEUED, Stage.VALIDATED),
    ],
)
def test_older_or_repeated_states_change_nothing(now: Stage, late: Stage) -> None:
    assert advance(Record(state=now), late, "status") is None


@pytest.mark.parametrize("end", [Stage.REJECTED, Stage.SUCCEEDED, Stage.FAILED, Stage.CANCELLED])
def test_a_record_at_an_end_never_moves_again(end: Stage) -> None:
    """Whatever arrives after an end (a late RUNNING event, a redelivered tune), the stage
    stays; only fields the record lacks may be added."""
    record = Record.first(end, "x", dataset="gs://b/incoming/a.jsonl")
    for stage in Stage:
        moved = advance(record, stage, "late", job=JobRef("projects/p/locations/l/tuningJobs/1"))
        assert moved is None or moved.state is end, (end, stage)


def test_a_record_may_skip_states_it_never_saw() -> None:
    record = advance(Record(state=Stage.SUBMITTED), Stage.SUCCEEDED, "status")
    assert record is not None and record.state is Stage.SUCCEEDED


def test_names_of_records_reports_and_correlation_ids() -> None:
    assert (
        RecordStore(None, "b").record_name("incoming/a.jsonl", "17")  # type: ignore[arg-type]
        == "_codetune/records/incoming/a.jsonl/17.json"
    )
    assert report_name("incoming/a.jsonl") == "incoming/a.jsonl.report.json"
    assert (
        correlation_id("gs://b/a", "1")
        == correlation_id("gs://b/a", "1")
        != correlation_id("gs://b/a", "2")
    )


def test_describe_a_failed_record() -> None:
    record = Record.from_json(
        {
            "dataset": "gs://b/incoming/a.jsonl",
            "generation": "3",
            "state": "FAILED",
            "error": {
                "problems": [
                    {"parameter": "train_steps", "rule": "S-15", "message": "must be at least 1"}
                ]
            },
        }
    )
    assert describe(record) == [
        "gs://b/incoming/a.jsonl (generation 3): FAILED",
        "  train_steps [S-15] must be at least 1",
    ]


def test_describe_names_the_backend_only_once_one_was_chosen() -> None:
    """A dataset rejected by validate has a base model but no backend yet."""
    rejected = Record(state=Stage.REJECTED, dataset="gs://b/incoming/a.jsonl", base_model="m")
    assert "  base model m" in describe(rejected)
    submitted = msgspec.structs.replace(rejected, state=Stage.SUBMITTED, backend="gemini")
    assert "  base model m (gemini backend)" in describe(submitted)


def test_describe_shows_the_estimated_training_tokens_and_cost() -> None:
    cost = {
        "tokens_per_epoch": 120_000,
        "token_method": "estimate: characters / 4",
        "epochs": 3.0,
        "training_tokens": 360_000,
        "price_per_million_training_tokens": 5.0,
        "estimated_cost_usd": 1.8,
    }
    record = Record.from_json(
        {"dataset": "gs://b/a.jsonl", "state": "SUBMITTED", "derived": {"cost": cost}}
    )
    assert (
        "  estimated 360,000 training tokens (120,000 an epoch x 3 epochs, estimate: characters "
        "/ 4), about $1.80"
    ) in describe(record)


def test_describe_shows_a_timeline_with_the_time_spent_in_each_stage() -> None:
    """Issue 15, item 3: `codetune status` shows each stage with its time and duration."""
    record = Record.from_json(
        {
            "dataset": "gs://b/incoming/a.jsonl",
            "generation": "3",
            "state": "SUCCEEDED",
            "history": [
                {"state": "VALIDATED", "time": "2026-11-29T10:00:00+00:00", "by": "validate"},
                {"state": "SUBMITTED", "time": "2026-11-29T10:00:04+00:00", "by": "tune"},
                {"state": "RUNNING", "time": "2026-11-29T10:12:34+00:00", "by": "status"},
                {"state": "SUCCEEDED", "time": "2026-11-29T12:40:04+00:00", "by": "sweep"},
            ],
        }
    )
    assert describe(record)[-6:] == [
        "  timeline:",
        "    2026-11-29 10:00:00 UTC  VALIDATED by validate",
        "    2026-11-29 10:00:04 UTC  SUBMITTED by tune  +4 s",
        "    2026-11-29 10:12:34 UTC  RUNNING   by status  +12 min 30 s",
        "    2026-11-29 12:40:04 UTC  SUCCEEDED by sweep  +2 h 27 min",
        "    2 h 40 min from VALIDATED to SUCCEEDED",
    ]


# --- Events -----------------------------------------------------------------------------------
def log_entry(**overrides: object) -> bytes:
    entry = {
        "logName": "projects/acme-ml/logs/aiplatform.googleapis.com%2Fpipeline_job_events",
        "resource": {
            "type": "aiplatform.googleapis.com/PipelineJob",
            "labels": {
                "location": "europe-west4",
                "pipeline_job_id": "codetune-a-1",
                "resource_container": "123",
            },
        },
        "jsonPayload": {"state": "PIPELINE_STATE_SUCCEEDED"},
    }
    entry.update(overrides)
    return orjson.dumps(entry)


def push(data: bytes, **attributes: str) -> dict[str, object]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes,
            "messageId": "1",
        },
        "subscription": "projects/p/subscriptions/s",
    }


def test_a_pipeline_job_log_entry_names_its_job() -> None:
    message = events.pubsub_message(events.PUBSUB_PUBLISHED, push(log_entry(), logName="x"))
    event = events.pipeline_job_event(message)
    assert event.job_name == "projects/acme-ml/locations/europe-west4/pipelineJobs/codetune-a-1"
    assert event.state == "PIPELINE_STATE_SUCCEEDED"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        log_entry(resource={"type": "gce_instance", "labels": {}}),
        log_entry(resource={"type": "aiplatform.googleapis.com/PipelineJob"}),
        b"[]",
    ],
)
def test_other_log_entries_are_refused_as_event_errors(data: bytes) -> None:
    message = events.pubsub_message(events.PUBSUB_PUBLISHED, push(data, a="b"))
    with pytest.raises(events.EventError):
        events.pipeline_job_event(message)


def test_storage_events_of_other_types_or_shapes_are_refused() -> None:
    with pytest.raises(events.EventError):
        events.storage_object(
            "google.cloud.storage.object.v1.deleted", {"bucket": "b", "name": "n"}
        )
    with pytest.raises(events.EventError):
        events.storage_object(events.STORAGE_FINALIZED, {"bucket": "b"})
    obj = events.storage_object(
        events.STORAGE_FINALIZED,
        {
            "bucket": "b",
            "name": "incoming/a.jsonl",
            "generation": "5",
            "metadata": {"codetune-train_steps": "9"},
        },
    )
    assert (obj.uri, obj.generation, obj.metadata) == (
        "gs://b/incoming/a.jsonl",
        "5",
        {"codetune-train_steps": "9"},
    )


# --- The "dataset validated" message ----------------------------------------------------------
def test_the_validated_message_round_trips() -> None:
    message = DatasetValidated(
        "b",
        "incoming/a.jsonl",
        "5",
        DatasetKind.CHAT,
        DatasetRole.TRAINING,
        40,
        "gs://b/incoming/a.jsonl.report.json",
        "ct-1",
        {"codetune-train_steps": "9"},
    )
    data, attributes = message.encode()
    assert attributes == {
        "type": "codetune.dataset.validated",
        "version": "1",
        "correlation_id": "ct-1",
        "dataset": "gs://b/incoming/a.jsonl",
        "generation": "5",
    }
    assert orjson.loads(data)["version"] == 1
    assert DatasetValidated.decode(data, attributes) == message
    # As the previous release read it: by key, with the same keys and values.
    assert orjson.loads(data) == {
        "version": 1,
        "dataset": "gs://b/incoming/a.jsonl",
        "bucket": "b",
        "name": "incoming/a.jsonl",
        "generation": "5",
        "kind": "chat",
        "format": "seed",
        "role": "training",
        "examples": 40,
        "report": "gs://b/incoming/a.jsonl.report.json",
        "correlation_id": "ct-1",
        "metadata": {"codetune-train_steps": "9"},
    }
    older = {k: v for k, v in orjson.loads(data).items() if k != "format"}  # before formats
    assert DatasetValidated.decode(orjson.dumps(older), attributes).format == "seed"


@pytest.mark.parametrize(
    ("data", "attributes"),
    [
        (b"{}", {"type": "something.else"}),
        (b"{}", {"type": "codetune.dataset.validated"}),
        (b'{"version": 2}', {"type": "codetune.dataset.validated"}),
        (b"nope", {"type": "codetune.dataset.validated"}),
        (
            b'{"version": 1, "bucket": "b", "name": "n", "generation": "1", "kind": "poem", "role": "training",'
            b' "examples": 1, "report": "r", "correlation_id": "c"}',
            {"type": "codetune.dataset.validated"},
        ),
        (  # a field of the wrong type is refused, never coerced
            b'{"version": 1, "dataset": "gs://b/n", "bucket": "b", "name": "n", "generation": "1",'
            b' "kind": "chat", "role": "training", "examples": "12", "report": "r",'
            b' "correlation_id": "c"}',
            {"type": "codetune.dataset.validated"},
        ),
    ],
)
def test_unreadable_messages_raise_message_error(data: bytes, attributes: dict[str, str]) -> None:
    with pytest.raises(MessageError):
        DatasetValidated.decode(data, attributes)


# --- The tuned model, as the SDK finds it -----------------------------------------------------
def task(
    name: str, schema: str = "system.ContainerExecution", **metadata: str
) -> dict[str, object]:
    return {"taskName": name, "execution": {"schemaTitle": schema, "metadata": metadata}}


@pytest.mark.parametrize("upload_task", ["upload-llm-model", "upload-model"])
def test_the_upload_task_names_the_tuned_model(upload_task: str) -> None:
    job = {
        "jobDetail": {
            "taskDetails": [
                task("tune", "system.Run"),
                task(
                    upload_task,
                    **{"output:model_resource_name": " projects/p/locations/l/models/7\n"},
                ),
            ]
        }
    }
    assert jobs.tuned_model_name(job) == "projects/p/locations/l/models/7"


def test_without_an_upload_task_the_single_run_task_is_used() -> None:
    only = {
        "jobDetail": {
            "taskDetails": [task("x", "system.Run", **{"output:model_resource_name": "m"})]
        }
    }
    assert jobs.tuned_model_name(only) == "m"
    two = {
        "jobDetail": {
            "taskDetails": [
                task("x", "system.Run", **{"output:model_resource_name": "m"}),
                task("y", "system.Run"),
            ]
        }
    }
    assert jobs.tuned_model_name(two) is None
    assert jobs.tuned_model_name({}) is None


def test_a_failed_jobs_error_is_googles() -> None:
    error = job_error({"error": {"code": 8, "message": "Quota exceeded"}})
    assert msgspec.to_builtins(error) == {"code": 8, "message": "Quota exceeded"}  # as stored
    assert job_error({"state": "PIPELINE_STATE_SUCCEEDED"}) is None


def test_the_eventarc_stand_in_percent_encodes_what_a_header_cannot_carry() -> None:
    from urllib.parse import unquote

    from codetune.local.eventarc import storage_cloudevent

    name = 'incoming/código "ñ" 100%.jsonl'
    message = {
        "attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": name},
        "data": base64.b64encode(orjson.dumps({"bucket": "b", "name": name})).decode(),
        "messageId": "1",
    }
    event = storage_cloudevent(message)
    assert event is not None
    subject = event[0]["ce-subject"]
    assert subject.isascii() and " " not in subject and '"' not in subject
    assert unquote(subject) == f"objects/{name}"


def test_a_copy_names_the_dataset_version_it_was_made_from() -> None:
    store = RecordStore(None, "b")  # type: ignore[arg-type]
    pinned = store.pinned_uri("incoming/a/t.jsonl", "17")
    converted = store.converted_uri("incoming/a/t.jsonl", "17", "training")
    assert (
        store.copied_version(pinned)
        == store.copied_version(converted)
        == ("incoming/a/t.jsonl", "17")
    )
    assert store.copied_version("gs://b/incoming/a/t.jsonl") is None
    assert store.copied_version("gs://other/_codetune/pinned/x/1.jsonl") is None


def test_a_record_reads_and_writes_as_the_previous_release_did() -> None:
    """msgspec types records now; the stored JSON is what the hand-written encoder wrote, so a
    deployment rolling back reads today's records, and today's reads a later version's."""
    record = advance(
        None,
        Stage.VALIDATED,
        "validate",
        dataset="gs://b/incoming/a.jsonl",
        generation="5",
        examples=12,
        tokens=Tokens(100, "estimate: characters / 4", False),
        inputs=Inputs((("manifest", {"epoch_count": 2}),)),
        pinned="7",
    )
    assert record is not None
    record = advance(
        record, Stage.SUCCEEDED, "sweep", job=JobRef("j", "1"), tuned_model=TunedModel("m")
    )
    assert record is not None
    previous = {k: v for k, v in msgspec.structs.asdict(record).items() if v is not None}
    previous["state"] = "SUCCEEDED"
    previous["history"] = [
        {"state": str(h.state), "time": h.time, "by": h.by} for h in record.history
    ]
    previous["job"], previous["tuned_model"] = {"name": "j", "id": "1"}, {"model": "m"}
    previous["tokens"] = {"per_epoch": 100, "method": "estimate: characters / 4", "exact": False}
    previous["inputs"] = {"layers": [["manifest", {"epoch_count": 2}]], "problems": []}
    assert orjson.loads(orjson.dumps(record.to_json())) == previous
    later = {**record.to_json(), "cancelled_by": "someone", "later_field": {"loss": [0.5]}}
    assert Record.from_json(later) == record
    with pytest.raises(InputError):
        Record.from_json({**record.to_json(), "examples": "12"})
    with pytest.raises(InputError):
        Record.from_json({**record.to_json(), "state": "DANCING"})


# A record as the previous version wrote it, its open fields as plain objects.
WRITTEN_BEFORE = {
    "state": "FAILED",
    "dataset": "gs://drop/incoming/a.jsonl",
    "generation": "1",
    "first_errors": [{"line": 5, "field": "input_text", "rule": "S-1", "message": "empty"}],
    "error": {
        "reason": "parameters",
        "problems": [{"parameter": "epoch_count", "rule": "range", "message": "1 to 100"}],
    },
    "waiting": {"reason": "vertex", "message": "503", "time": "2026-12-01T00:00:00+00:00"},
    "data_stats": {
        "billable_tokens": 10,
        "tuning_steps": 2,
        "examples": 3,
        "dropped_examples": 1,
        "dropped": [{"line": 2, "reason": None}],
        "estimated_tokens": 9,
        "billed_to_estimate": 1.111,
    },
    "announced": {"message_id": "7", "time": "2026-12-01T00:00:01+00:00"},
    "history": [{"state": "FAILED", "time": "2026-12-01T00:00:00+00:00", "by": "tune"}],
    "version": 1,
}


def test_records_written_before_are_read_typed_and_written_back_readable_the_same_way() -> None:
    from codetune.state.records import Announced, Dropped, Failure, Finding, PlanProblem

    record = Record.from_json(WRITTEN_BEFORE)
    assert record.first_errors == (Finding("S-1", "empty", 5, "input_text"),)
    assert record.error == Failure(
        "parameters", problems=(PlanProblem("epoch_count", "range", "1 to 100"),)
    )
    assert record.waiting is not None and record.waiting.message == "503"
    assert record.data_stats is not None and record.data_stats.dropped == (Dropped(2, None),)
    assert record.announced == Announced(message_id="7", time="2026-12-01T00:00:01+00:00")
    # What it writes now holds every value as the previous version wrote it: a reader of
    # plain objects (the previous version's) finds each where it was.
    written = orjson.loads(orjson.dumps(record.to_json()))  # as stored
    for field in ("first_errors", "error", "waiting", "announced"):
        assert written[field] == WRITTEN_BEFORE[field], field
    assert WRITTEN_BEFORE["data_stats"].items() <= written["data_stats"].items()
    assert Record.from_json(written) == record
