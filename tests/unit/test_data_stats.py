"""After a Gemini job: the service's tuningDataStats (aiplatform v1) in the record, dropped
examples mapped to dataset lines, billable tokens beside codetune's count."""

from __future__ import annotations

import jsonschema
import msgspec

from codetune.app.status import beside_estimate
from codetune.local.discovery import json_schema
from codetune.state import Record
from codetune.state.records import DataStats, Dropped, Tokens, describe
from codetune.tuning.backends.gemini import MAX_DROPPED_LISTED, data_stats

JOB = {
    "name": "projects/p/locations/us-central1/tuningJobs/1",
    "baseModel": "gemini-3.5-flash",
    "state": "JOB_STATE_SUCCEEDED",
    "tuningDataStats": {
        "supervisedTuningDataStats": {
            "tuningDatasetExampleCount": "500",
            "totalBillableTokenCount": "123000",
            "tuningStepCount": "190",
            "totalTruncatedExampleCount": "2",
            "truncatedExampleIndices": ["17", "402"],
            "droppedExampleReasons": ["example too long", "example too long"],
        }
    },
}


def test_the_job_is_googles_shape() -> None:
    jsonschema.validate(JOB, json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1TuningJob"))


def test_dropped_examples_are_dataset_lines_with_googles_reason() -> None:
    stats = data_stats(JOB)
    assert stats == DataStats(
        billable_tokens=123_000,
        tuning_steps=190,
        examples=500,
        dropped_examples=2,
        dropped=(Dropped(17, "example too long"), Dropped(402, "example too long")),
    )
    assert data_stats({"state": "JOB_STATE_RUNNING"}) is None


def test_the_list_of_dropped_lines_is_bounded() -> None:
    many = {
        "tuningDataStats": {
            "supervisedTuningDataStats": {
                "totalTruncatedExampleCount": "400",
                "truncatedExampleIndices": [str(i) for i in range(1, 401)],
            }
        }
    }
    stats = data_stats(many)
    assert stats is not None and len(stats.dropped) == MAX_DROPPED_LISTED
    assert stats.dropped_examples == 400 and stats.dropped[0] == Dropped(1, None)


def test_billed_tokens_beside_the_estimate_in_the_record_and_status() -> None:
    stats = beside_estimate(data_stats(JOB), Tokens(100_000, "estimate", False))
    assert stats is not None and stats.billed_to_estimate == 1.23
    stored = msgspec.to_builtins(stats)  # as the record stores it, and reads it back
    record = Record.from_json(
        {"dataset": "gs://b/a.jsonl", "state": "SUCCEEDED", "data_stats": stored}
    )
    assert record.data_stats == stats
    lines = describe(record)
    assert (
        "  Google counted 123,000 billable tokens in the dataset (1.23x codetune's count), 190 steps"
        in lines
    )
    assert (
        "  2 examples dropped by Google: line 17 (example too long); line 402 (example too long)"
        in lines
    )
    assert beside_estimate(None, None) is None
    unknown = beside_estimate(data_stats(JOB), None)
    assert unknown is not None and unknown.billed_to_estimate is None


def test_a_pipeline_job_says_where_its_metrics_are() -> None:
    from codetune.tuning.backends.pipeline import METRICS, metrics

    board = "projects/p/locations/us-central1/tensorboards/7"
    job = {"runtimeConfig": {"parameterValues": {"tensorboard_resource_id": board}}}
    assert metrics(job) == DataStats(tensorboard=board, metrics=tuple(METRICS))
    record = Record.from_json(
        {
            "dataset": "gs://b/a.jsonl",
            "state": "SUCCEEDED",
            "data_stats": msgspec.to_builtins(metrics(job)),
        }
    )
    assert any(
        line.startswith(f"  metrics (S-24) in {board}: /train_total_loss")
        for line in describe(record)
    )
