"""The whole chain on the real emulators (Pub/Sub emulator, fake-gcs-server) with the three
functions under functions-framework, and the Eventarc and Vertex AI stand-ins.

One stack serves the module; each test drops its own datasets, so tests do not interfere.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import requests

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.local.eventarc import storage_cloudevent
from codetune.local.stack import LocalStack, StackConfig
from codetune.local.vertex_standin import wait_for
from codetune.state import RecordStore, report_name
from tests.support import chat_dataset, dataset, generation, generation_dataset

FINAL = {"SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"}
GENERATION_TEMPLATE = (
    "https://us-kfp.pkg.dev/ml-pipeline/large-language-model-pipelines/tune-large-model/v3.0.0"
)
CHAT_TEMPLATE = (
    "https://us-kfp.pkg.dev/ml-pipeline/large-language-model-pipelines/tune-large-chat-model/v3.0.0"
)


def running(config: StackConfig) -> Iterator[LocalStack]:
    """A started stack for a module's tests; stopped after them, leaving no process behind."""
    local = LocalStack(config)
    local.start()
    pids = [p.pid for p in local.processes.values()]
    try:
        yield local
    finally:
        local.stop()
        for pid in pids:  # no process left behind, children included (one group each)
            with pytest.raises(ProcessLookupError):
                os.killpg(pid, 0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from running(StackConfig(step_seconds=0.5, log_dir=tmp_path_factory.mktemp("stack-logs")))


LEGACY = {"codetune-large_model_reference": "code-bison@002"}
LEGACY_CHAT = {"codetune-large_model_reference": "codechat-bison@002"}


def drop(stack: LocalStack, name: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
    """Upload as a user would. Most tests here exercise the legacy pipeline (its job events,
    its job ids): code-bison unless the metadata names another model."""
    return stack.upload(data, f"incoming/{name}", {**LEGACY, **(metadata or {})})


def finished(stack: LocalStack, name: str, generation: str, seconds: float = 60) -> dict[str, Any]:
    return stack.wait_for_record(
        RecordStore(None, "b").record_name(  # type: ignore[arg-type]
            f"incoming/{name}", generation
        ),
        FINAL,
        seconds,
    )


def jobs_for(stack: LocalStack, name: str) -> list[dict[str, Any]]:
    """Pipeline jobs and Gemini tuning jobs whose training data is this dataset."""
    assert stack.vertex is not None
    pinned = f"gs://{stack.state_bucket}/_codetune/pinned/incoming/{name}/"
    converted = f"gs://{stack.state_bucket}/_codetune/converted/incoming/{name}/"
    with stack.vertex._lock:
        jobs = list(stack.vertex.jobs.values())
    return [
        j
        for j in jobs
        if (j.get("runtimeConfig") or {})
        .get("parameterValues", {})
        .get("dataset_uri", "")
        .startswith((pinned, converted))
        or (j.get("supervisedTuningSpec") or {}).get("trainingDatasetUri", "").startswith(converted)
    ]


def log_entries(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(line) for line in stack.logs(function).splitlines() if line.startswith("{")
    ]


def codetune(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("codetune")
    base = [command] if command else [sys.executable, "-m", "codetune.cli"]
    assert stack.vertex is not None
    env = {
        **os.environ,
        **stack.env,
        "CODETUNE_BUCKET": stack.config.bucket,
        "CODETUNE_PROJECT": stack.config.project,
        "CODETUNE_PIPELINE_REGION": "us-central1",
        "CODETUNE_VERTEX_ENDPOINT": stack.vertex.url,
    }
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=60, env=env)


def test_a_generation_dataset_ends_with_a_tuned_model(stack: LocalStack) -> None:
    generation_id = drop(stack, "snippets.jsonl", dataset(generation_dataset(20)))
    record = finished(stack, "snippets.jsonl", generation_id)
    assert record["state"] == "SUCCEEDED", record
    model = record["tuned_model"]["model"]
    assert model.startswith("projects/local-project/locations/us-central1/models/")
    # Forward only. The job's first event may be recorded before tune's own write lands (the
    # pointer is written before the create); that write then merges in without a step.
    states = [step["state"] for step in record["history"]]
    assert states in (
        ["VALIDATED", "SUBMITTED", "QUEUED", "RUNNING", "SUCCEEDED"],
        ["VALIDATED", "QUEUED", "RUNNING", "SUCCEEDED"],
    ), states
    assert record["parameters"] and record["derived"]  # what tune submitted, either way
    [job] = jobs_for(stack, "snippets.jsonl")
    assert job["templateUri"] == GENERATION_TEMPLATE
    assert record["job"]["name"] == job["name"]
    report = stack.read_json(report_name("incoming/snippets.jsonl"))
    assert report is not None and report["valid"] is True and report["generation"] == generation_id
    page = stack.storage_client.bucket(stack.config.bucket).get_blob(
        "incoming/snippets.jsonl.report.html"
    )
    assert page is not None and page.content_type == "text/html; charset=utf-8"
    assert page.download_as_bytes().startswith(b"<!doctype html>")
    # People follow it with the command line.
    status = codetune(stack, "status", f"gs://{stack.config.bucket}/incoming/snippets.jsonl")
    assert status.returncode == 0 and f"tuned model: {model}" in status.stdout
    by_job = codetune(stack, "status", job["name"].rpartition("/")[2], "--json")
    assert orjson.loads(by_job.stdout)["tuned_model"]["model"] == model
    listed = codetune(stack, "models", "list", "--base-model", "code-bison@002")
    assert listed.returncode == 0 and model in listed.stdout.split()
    assert (
        model not in codetune(stack, "models", "list", "--base-model", "codechat-bison@002").stdout
    )


def test_a_dataset_named_outside_latin_1_goes_through(stack: LocalStack) -> None:
    generation_id = drop(stack, "código ñ 数据.jsonl", dataset(generation_dataset(10)))
    assert finished(stack, "código ñ 数据.jsonl", generation_id)["state"] == "SUCCEEDED"


def test_a_chat_dataset_uses_the_chat_template(stack: LocalStack) -> None:
    generation_id = drop(stack, "chats.jsonl", dataset(chat_dataset(15)), LEGACY_CHAT)
    assert finished(stack, "chats.jsonl", generation_id)["state"] == "SUCCEEDED"
    [job] = jobs_for(stack, "chats.jsonl")
    assert job["templateUri"] == CHAT_TEMPLATE
    assert job["runtimeConfig"]["parameterValues"]["large_model_reference"] == "codechat-bison@002"


def test_an_invalid_dataset_gets_a_report_and_no_job(stack: LocalStack) -> None:
    lines = generation_dataset(12)
    lines[4] = b'{"input_text": 3}'
    generation_id = drop(stack, "broken.jsonl", dataset(lines))
    record = finished(stack, "broken.jsonl", generation_id)
    assert record["state"] == "REJECTED"
    assert [(e["line"], e["rule"]) for e in record["first_errors"]] == [(5, "S-1"), (5, "S-1")]
    report = stack.read_json(report_name("incoming/broken.jsonl"))
    assert report is not None and report["valid"] is False
    assert jobs_for(stack, "broken.jsonl") == []
    assert "dataset rejected" in stack.logs("validate")
    status = codetune(stack, "status", f"gs://{stack.config.bucket}/incoming/broken.jsonl")
    assert "REJECTED" in status.stdout and "line 5, input_text [S-1]" in status.stdout


def test_the_same_upload_event_three_times_gives_one_job(stack: LocalStack) -> None:
    generation_id = drop(stack, "thrice.jsonl", dataset(generation_dataset(11)))
    finished(stack, "thrice.jsonl", generation_id)
    blob = stack.storage_client.bucket(stack.config.bucket).get_blob("incoming/thrice.jsonl")
    message = {
        "data": base64.b64encode(orjson.dumps(blob._properties)).decode(),
        "attributes": {
            "eventType": "OBJECT_FINALIZE",
            "bucketId": stack.config.bucket,
            "objectId": "incoming/thrice.jsonl",
            "objectGeneration": generation_id,
        },
        "messageId": "redelivered-1",
    }
    event = storage_cloudevent(message)
    assert event is not None
    for _ in range(2):  # with the delivery above: three in all
        assert requests.post(
            stack.function_urls["validate"], data=event[1], headers=event[0], timeout=60
        ).ok
    [job] = jobs_for(stack, "thrice.jsonl")

    def repeats() -> int:
        lines = stack.logs("tune").splitlines()
        return sum(1 for line in lines if "already past validation" in line and job["name"] in line)

    assert wait_for(lambda: repeats() >= 2, 30)
    assert len(jobs_for(stack, "thrice.jsonl")) == 1
    assert finished(stack, "thrice.jsonl", generation_id)["state"] == "SUCCEEDED"


def test_the_systems_own_writes_do_not_trigger_it(stack: LocalStack) -> None:
    generation_id = drop(stack, "quiet.jsonl", dataset(generation_dataset(10)))
    finished(stack, "quiet.jsonl", generation_id)
    log = stack.logs("validate")
    # Reports are written beside the upload and reach validate; records and job pointers are
    # in the state bucket, whose writes the trigger never sees...
    assert '"object":"gs://tuning-drop/incoming/quiet.jsonl.report.json"' in log
    assert "gs://tuning-drop-state/" not in log
    assert stack.read_json(
        RecordStore(None, "b").record_name("incoming/quiet.jsonl", generation_id)  # type: ignore[arg-type]
    )
    # ...and all were ignored: validated once, one job, no record of a record.
    validating = [line for line in log.splitlines() if '"message":"validating dataset"' in line]
    assert (
        sum('"dataset":"gs://tuning-drop/incoming/quiet.jsonl"' in line for line in validating) == 1
    )
    assert len(jobs_for(stack, "quiet.jsonl")) == 1
    names = [
        b.name
        for b in stack.storage_client.list_blobs(stack.state_bucket, prefix="_codetune/records/")
        if not b.name.startswith("_codetune/records/incoming/")
    ]
    assert names == []
    assert list(stack.storage_client.list_blobs(stack.config.bucket, prefix="_codetune/")) == []


def test_a_job_that_fails_is_recorded_with_its_reason(stack: LocalStack) -> None:
    assert stack.vertex is not None
    stack.vertex.fail_next_job("The tuning pipeline ran out of quota: 8 A100 GPUs in us-central1.")
    generation_id = drop(stack, "doomed.jsonl", dataset(generation_dataset(10)))
    record = finished(stack, "doomed.jsonl", generation_id)
    assert record["state"] == "FAILED"
    assert record["error"] == {
        "code": 9,
        "message": "The tuning pipeline ran out of quota: 8 A100 GPUs in us-central1.",
    }
    assert "tuned_model" not in record


def test_a_late_running_event_after_success_changes_nothing(stack: LocalStack) -> None:
    assert stack.vertex is not None
    generation_id = drop(stack, "late.jsonl", dataset(generation_dataset(10)))
    record = finished(stack, "late.jsonl", generation_id)
    assert record["state"] == "SUCCEEDED"
    name = RecordStore(None, "b").record_name(  # type: ignore[arg-type]
        "incoming/late.jsonl", generation_id
    )
    # The end is announced after it is recorded (the record's `announced`, written twice):
    # only then is the record at rest.
    assert wait_for(lambda: (stack.read_json(name).get("announced") or {}).get("message_id"), 30)
    before = stack.storage_client.bucket(stack.state_bucket).get_blob(name).generation
    [job] = jobs_for(stack, "late.jsonl")
    stale = {**job, "state": "PIPELINE_STATE_RUNNING"}
    with stack.vertex._lock:  # the job reads as RUNNING again, as a stale replica might answer
        stack.vertex.jobs[job["name"]] = stale

    def handled() -> list[dict[str, Any]]:
        """status's entries about this job in its stale RUNNING state: that very event, handled."""
        return [
            e
            for e in log_entries(stack, "status")
            if e.get("job") == job["name"] and e.get("state") == "PIPELINE_STATE_RUNNING"
        ]

    seen = len(handled())  # the job's own RUNNING event, long handled
    try:
        stack.vertex._emit(stale)  # and a RUNNING event arrives late
        assert wait_for(lambda: len(handled()) > seen, 30)
    finally:
        with stack.vertex._lock:
            stack.vertex.jobs[job["name"]] = job
    assert handled()[-1]["message"] == "older or repeated job state: record unchanged"
    after = stack.storage_client.bucket(stack.state_bucket).get_blob(name)
    assert after.generation == before
    assert stack.read_json(name)["state"] == "SUCCEEDED"


def test_transient_vertex_errors_are_retried_into_one_job(stack: LocalStack) -> None:
    """A 503 and a 429 on the create: the create is never re-sent by the client (the job may
    exist after a 503); Pub/Sub redelivers, the next delivery looks for the job by its id
    first, then creates, is refused for quota (429: nothing created), and the dataset waits
    for a slot until the sweep submits it again. One job."""
    assert stack.vertex is not None
    stack.vertex.inject_faults(503, 429, method="POST")
    generation_id = drop(stack, "flaky.jsonl", dataset(generation_dataset(10)))
    record = finished(stack, "flaky.jsonl", generation_id)
    assert record["state"] == "SUCCEEDED"
    assert len(jobs_for(stack, "flaky.jsonl")) == 1
    assert stack.vertex.pending_faults() == 0  # both faults were answered
    mine = [
        e for e in log_entries(stack, "tune") if e.get("correlation_id") == record["correlation_id"]
    ]
    waits = [e for e in mine if e["message"].startswith("Vertex AI not available")]
    assert [("503" in e["error"], "429" in e["error"]) for e in waits] == [(True, False)]
    slots = [e for e in mine if e["message"].startswith("waiting for a tuning slot")]
    assert [e["message"] for e in slots] == [
        "waiting for a tuning slot: Vertex AI refused the job for the project's quota (429 "
        "RESOURCE_EXHAUSTED)"
    ]
    assert sum(e["message"] == "tuning job submitted" for e in mine) == 1


def tune_rules(record: dict[str, Any]) -> set[tuple[str, str]]:
    """(parameter, tune's rule) of a record's `tuning` errors: what validate refused, as tune
    would have."""
    return {
        (e["field"].removeprefix("parameters."), e["message"].partition(":")[0])
        for e in record["first_errors"]
        if e["rule"] == "tuning"
    }


def test_broken_parameters_fail_before_any_job(stack: LocalStack) -> None:
    metadata = {"codetune-train_steps": "0", "codetune-accelerator_type": "FPGA"}
    generation_id = drop(stack, "badparams.jsonl", dataset(generation_dataset(10)), metadata)
    record = finished(stack, "badparams.jsonl", generation_id)
    assert record["state"] == "REJECTED"  # by validate: no message, no job
    assert {("accelerator_type", "type"), ("train_steps", "S-15")} <= tune_rules(record)
    assert jobs_for(stack, "badparams.jsonl") == []


def test_a_manifest_pairs_the_evaluation_dataset(stack: LocalStack) -> None:
    evaluation = drop(stack, "paired.eval.jsonl", dataset([generation(500 + i) for i in range(12)]))
    stack.wait_for_record(
        RecordStore(None, "b").record_name(  # type: ignore[arg-type]
            "incoming/paired.eval.jsonl", evaluation
        ),
        {"VALIDATED"},
        30,
    )
    manifest = {
        "evaluation": "paired.eval.jsonl",
        "parameters": {"train_steps": 40, "evaluation_interval": 10},
    }
    stack.upload(orjson.dumps(manifest), "incoming/paired.tuning.json")
    generation_id = drop(stack, "paired.jsonl", dataset(generation_dataset(30)))
    assert finished(stack, "paired.jsonl", generation_id)["state"] == "SUCCEEDED"
    [job] = jobs_for(stack, "paired.jsonl")
    values = job["runtimeConfig"]["parameterValues"]
    copy = values["evaluation_data_uri"].removeprefix("gs://tuning-drop-state/")
    assert copy.endswith(f"/incoming/paired.jsonl/{generation_id}/validation.seed.jsonl")
    data = stack.storage_client.bucket(stack.state_bucket).get_blob(copy).download_as_bytes()
    assert data == dataset([generation(500 + i) for i in range(12)])  # as validated
    assert (values["train_steps"], values["evaluation_interval"]) == (40, 10)
    assert jobs_for(stack, "paired.eval.jsonl") == []  # evaluation data is never tuned on its own


def test_a_gemini_job_with_an_evaluation_dataset_ends_with_its_verdict(
    stack: LocalStack, tmp_path: Any
) -> None:
    """Through the real emulators and the stand-in's generateContent: status sends the version
    to EVALUATING, the evaluate function answers every planned example once on each model,
    and the version ends SUCCEEDED with the verdict everywhere a person or a system looks."""
    examples = [generation(800 + i) for i in range(12)]
    evaluation = drop(stack, "judged.eval.jsonl", dataset(examples), GEMINI)
    stack.wait_for_record(
        RecordStore(None, "b").record_name(  # type: ignore[arg-type]
            "incoming/judged.eval.jsonl", evaluation
        ),
        {"VALIDATED"},
        30,
    )
    manifest = {"evaluation": "judged.eval.jsonl", "parameters": {"evaluation_examples": 10}}
    stack.upload(orjson.dumps(manifest), "incoming/judged.tuning.json")
    generation_id = drop(stack, "judged.jsonl", dataset(generation_dataset(20)), GEMINI)
    record = finished(stack, "judged.jsonl", generation_id, seconds=90)
    assert record["state"] == "SUCCEEDED", record
    assert [step["state"] for step in record["history"]][-2:] == ["EVALUATING", "SUCCEEDED"]
    judged = record["evaluation"]
    assert judged["state"] == "done" and judged["plan"]["examples"] == 10
    assert judged["verdict"]["examples"] == 10 and judged["answered"] == 10
    assert judged["tuned_usage"]["answers"] == judged["base_usage"]["answers"] == 10
    # Once per example and model, whatever was redelivered.
    assert stack.vertex is not None
    asked = [p for _, p in stack.vertex.requests if p.endswith(":generateContent")]
    mine = [p for p in asked if judged["tuned_model"] in p or judged["base_model"] in p]
    assert len(mine) >= 20
    answers = list(
        stack.storage_client.bucket(stack.state_bucket).list_blobs(
            prefix=f"_codetune/evaluations/incoming/judged.jsonl/{generation_id}/"
        )
    )
    assert len([a for a in answers if a.name.endswith(".json")]) == 20
    # status, runs and the evaluation page, for an operator.
    uri = f"gs://{stack.config.bucket}/incoming/judged.jsonl"
    shown = codetune(stack, "status", uri)
    assert "evaluation on 10 examples (tuned against base):" in shown.stdout, shown.stdout
    listed = codetune(stack, "runs", "incoming/judged", "--json")
    rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
    [row] = [r for r in rows if r["dataset"] == uri]
    assert row["evaluation"] and "chrF" in row["evaluation"]
    page = tmp_path / "judged.eval.html"
    fetched = codetune(stack, "report", uri, "--eval-html", str(page))
    assert fetched.returncode == 0, fetched.stderr
    assert "worst regressions first" in page.read_text().lower()
    # Nothing of the evaluation beside the dataset, where every uploader reads.
    beside = stack.storage_client.bucket(stack.config.bucket).list_blobs(prefix="incoming/judged")
    assert not [b.name for b in beside if b.name.endswith(".eval.html")]
    # The completion message carries the verdict, in its published schema.
    ended = f"{uri}#{generation_id}/SUCCEEDED"
    bodies = [b for b, a in stack.finished_messages(30, ended) if a.get("finished_id") == ended]
    assert bodies and bodies[0]["evaluation"]["state"] == "done"
    assert len(bodies[0]["evaluation"]["metrics"]) == 4


def test_an_invalid_evaluation_dataset_stops_the_job(stack: LocalStack) -> None:
    evaluation = drop(
        stack, "weak.eval.jsonl", dataset([generation(700 + i) for i in range(5)])
    )  # S-5: too few
    finished(stack, "weak.eval.jsonl", evaluation)
    stack.upload(orjson.dumps({"evaluation": "weak.eval.jsonl"}), "incoming/weak.tuning.json")
    generation_id = drop(stack, "weak.jsonl", dataset(generation_dataset(10)))
    record = finished(stack, "weak.jsonl", generation_id)
    assert record["state"] == "FAILED"
    assert record["error"]["problems"][0]["parameter"] == "evaluation_data_uri"
    assert jobs_for(stack, "weak.jsonl") == []


def test_one_correlation_id_follows_a_dataset_through_all_three_functions(
    stack: LocalStack,
) -> None:
    generation_id = drop(stack, "traced.jsonl", dataset(generation_dataset(10)))
    record = finished(stack, "traced.jsonl", generation_id)
    correlation = record["correlation_id"]
    for function in ("validate", "tune", "status"):
        entries = [
            orjson.loads(line) for line in stack.logs(function).splitlines() if line.startswith("{")
        ]
        mine = [e for e in entries if e.get("correlation_id") == correlation]
        assert mine, function
        assert all(
            e["logging.googleapis.com/labels"]["codetune/correlation_id"] == correlation
            for e in mine
        )
        assert all(e["severity"] in {"INFO", "WARNING", "ERROR"} and e["message"] for e in mine)


def test_logs_never_carry_dataset_contents(stack: LocalStack) -> None:
    """Through every function and both paths: a valid dataset tuned to the end, a rejected one."""
    secret = "PRIVATE-CODE-91731"
    valid = [generation(i, output_text=f"def f{i}(): return '{secret}'") for i in range(12)]
    rejected = [*valid[:3], generation(3, input_text=7, output_text=secret), *valid[4:]]
    tuned = finished(stack, "private.jsonl", drop(stack, "private.jsonl", dataset(valid)))
    assert tuned["state"] == "SUCCEEDED"
    refused = finished(stack, "refused.jsonl", drop(stack, "refused.jsonl", dataset(rejected)))
    assert refused["state"] == "REJECTED"
    for function in ("validate", "tune", "status", "sweep"):
        assert secret not in stack.logs(function), function


def test_a_stale_generation_is_ignored(stack: LocalStack) -> None:
    first = drop(stack, "twice.jsonl", dataset(generation_dataset(10)))
    finished(stack, "twice.jsonl", first)
    second = drop(stack, "twice.jsonl", dataset(generation_dataset(11)))
    finished(stack, "twice.jsonl", second)
    event = storage_cloudevent(
        {
            "data": base64.b64encode(
                orjson.dumps(
                    {
                        "bucket": stack.config.bucket,
                        "name": "incoming/twice.jsonl",
                        "generation": first,
                    }
                )
            ).decode(),
            "attributes": {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": stack.config.bucket,
                "objectId": "incoming/twice.jsonl",
            },
            "messageId": "late-1",
        }
    )
    assert event is not None
    assert requests.post(
        stack.function_urls["validate"], data=event[1], headers=event[0], timeout=60
    ).ok
    assert wait_for(lambda: "stale event" in stack.logs("validate"), 10)
    assert len(jobs_for(stack, "twice.jsonl")) == 2  # one per version, no third


def test_every_event_and_resource_matches_googles_schemas(stack: LocalStack) -> None:
    """What crosses a service boundary, held against the official discovery schemas."""
    import jsonschema

    from codetune.local.discovery import json_schema

    generation_id = drop(stack, "shapes.jsonl", dataset(generation_dataset(10)))
    finished(stack, "shapes.jsonl", generation_id)
    assert stack.vertex is not None and stack.eventarc is not None
    objects = jsonschema.Draft202012Validator(json_schema("storage", "v1", "Object"))
    notifications = [
        n
        for n in stack.eventarc.notifications
        if n["attributes"]["objectId"] == "incoming/shapes.jsonl"
    ]
    assert notifications
    for notification in notifications:
        resource = orjson.loads(base64.b64decode(notification["data"]))
        assert list(objects.iter_errors(resource)) == []
        assert resource["generation"] == generation_id
    entries = jsonschema.Draft202012Validator(json_schema("logging", "v2", "LogEntry"))
    [job] = jobs_for(stack, "shapes.jsonl")
    mine = [
        e
        for e in stack.vertex.log_entries
        if e["resource"]["labels"]["pipeline_job_id"] == job["name"].rpartition("/")[2]
    ]
    assert [e["jsonPayload"]["state"] for e in mine] == [
        "PIPELINE_STATE_PENDING",
        "PIPELINE_STATE_RUNNING",
        "PIPELINE_STATE_SUCCEEDED",
    ]
    for entry in mine:
        assert list(entries.iter_errors(entry)) == []
    jobs = jsonschema.Draft202012Validator(
        json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1PipelineJob")
    )
    answer = requests.get(f"{stack.vertex.url}/v1/{job['name']}", timeout=10).json()
    assert list(jobs.iter_errors(answer)) == []
    assert answer["state"] == "PIPELINE_STATE_SUCCEEDED"


# --- Gemini supervised tuning and the sweep ---------------------------------------------------
GEMINI = {"codetune-large_model_reference": "gemini-3.5-flash"}


def test_with_no_model_named_a_dataset_gets_a_gemini_supervised_tuning_job(
    stack: LocalStack,
) -> None:
    import jsonschema

    from codetune.local.discovery import json_schema
    from codetune.local.vertex_standin import GEMINI_EXAMPLE

    # As a user drops it: no base model named anywhere, so the default, today's Gemini Flash.
    data = dataset(generation_dataset(20))
    generation_id = stack.upload(data, "incoming/gemini.jsonl", {"codetune-epoch_count": "2"})
    record = finished(stack, "gemini.jsonl", generation_id)
    assert record["state"] == "SUCCEEDED", record
    [job] = jobs_for(stack, "gemini.jsonl")
    assert job["name"].startswith("projects/local-project/locations/us-central1/tuningJobs/")
    assert job["baseModel"] == "gemini-3.5-flash"
    assert job["supervisedTuningSpec"]["hyperParameters"] == {"epochCount": "2"}
    assert record["tuned_model"] == {
        "model": job["tunedModel"]["model"],
        "endpoint": job["tunedModel"]["endpoint"],
    }
    converted = job["supervisedTuningSpec"]["trainingDatasetUri"].removeprefix(
        f"gs://{stack.state_bucket}/"
    )
    blob = stack.storage_client.bucket(stack.state_bucket).get_blob(converted)
    lines = blob.download_as_bytes().splitlines()
    assert len(lines) == 20 and all(GEMINI_EXAMPLE.is_valid(orjson.loads(line)) for line in lines)
    assert "sweep" in {step["by"] for step in record["history"]}  # tuning jobs send no events
    # Recorded within one sweep interval (plus the time the sweep takes) of the job's end.
    [done] = [step for step in record["history"] if step["state"] == "SUCCEEDED"]
    lag = datetime.fromisoformat(done["time"]) - datetime.fromisoformat(job["endTime"])
    assert timedelta(0) <= lag <= timedelta(seconds=stack.config.sweep_seconds + 1)
    listed = codetune(stack, "models", "list", "--base-model", "gemini-3.5-flash")
    assert listed.returncode == 0 and record["tuned_model"]["model"] in listed.stdout.split()
    assert (
        record["tuned_model"]["model"]
        not in codetune(stack, "models", "list", "--base-model", "gemini-2.5-pro").stdout
    )
    assert record["tuned_model"]["model"] in codetune(stack, "models", "list").stdout.split()
    # What Google counted, beside codetune's own count; the job's schema is Google's.
    jsonschema.validate(job, json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1TuningJob"))
    stats = record["data_stats"]
    assert stats["examples"] == 20 and stats["dropped_examples"] == 0
    assert stats["estimated_tokens"] == record["tokens"]["per_epoch"]
    assert stats["billed_to_estimate"] == round(
        stats["billable_tokens"] / stats["estimated_tokens"], 3
    )
    shown = codetune(stack, "status", f"gs://{stack.config.bucket}/incoming/gemini.jsonl")
    assert f"Google counted {stats['billable_tokens']:,} billable tokens" in shown.stdout
    # The overview, over the emulator: this version's row, with what Google billed.
    listed = codetune(stack, "runs", "incoming/gemini", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert (row["stage"], row["generation"], row["billed_tokens"]) == (
        "SUCCEEDED",
        record["generation"],
        stats["billable_tokens"],
    )
    assert row["tuned_model"] == record["tuned_model"]["model"]
    succeeded = codetune(stack, "runs", "--stage", "succeeded", "--since", "1h")
    assert "incoming/gemini.jsonl" in succeeded.stdout
    # The job's curves, read from its experiment when it ended, and its run page beside it.
    assert record["curves"]["experiment"] == job["experiment"]
    [loss] = [s for s in record["curves"]["series"] if s["name"] == "/train_total_loss"]
    steps = int(job["tuningDataStats"]["supervisedTuningDataStats"]["tuningStepCount"])
    assert len(loss["points"]) == steps and loss["points"][0][1] > loss["points"][-1][1]
    page = stack.storage_client.bucket(stack.config.bucket).get_blob(
        "incoming/gemini.jsonl.run.html"
    )
    assert page is not None and page.content_type == "text/html; charset=utf-8"
    reported = codetune(stack, "report", f"gs://{stack.config.bucket}/incoming/gemini.jsonl")
    assert reported.returncode == 0 and "/train_total_loss: " in reported.stdout
    assert "gemini.jsonl" not in codetune(stack, "runs", "--stage", "rejected").stdout


def test_the_shipped_openai_and_gemini_examples_are_tuned_on_gemini(stack: LocalStack) -> None:
    from codetune.local.demo import DEFAULT_DATASET

    for form in ("openai", "gemini"):
        path = DEFAULT_DATASET.parent / f"code-chat.{form}.jsonl"
        name = f"incoming/shipped-{form}.jsonl"
        generation_id = stack.upload(path.read_bytes(), name)
        record = finished(stack, f"shipped-{form}.jsonl", generation_id)
        assert (record["state"], record["format"], record["base_model"]) == (
            "SUCCEEDED",
            form,
            "gemini-3.5-flash",
        ), record


def test_a_gemini_chat_dataset_carries_its_context_as_system_instruction(stack: LocalStack) -> None:
    lines = [
        orjson.dumps({**orjson.loads(line), "context": "Answer in Go."})
        for line in chat_dataset(12)
    ]
    generation_id = drop(stack, "gemini-chat.jsonl", dataset(lines), GEMINI)
    assert finished(stack, "gemini-chat.jsonl", generation_id)["state"] == "SUCCEEDED"
    [job] = jobs_for(stack, "gemini-chat.jsonl")
    converted = job["supervisedTuningSpec"]["trainingDatasetUri"].removeprefix(
        f"gs://{stack.state_bucket}/"
    )
    first = orjson.loads(
        stack.storage_client.bucket(stack.state_bucket)
        .get_blob(converted)
        .download_as_bytes()
        .splitlines()[0]
    )
    assert first["systemInstruction"]["parts"][0]["text"] == "Answer in Go."
    assert [turn["role"] for turn in first["contents"]] == ["user", "model"]


def test_a_repeated_gemini_delivery_finds_its_job(stack: LocalStack) -> None:
    generation_id = drop(stack, "gemini-thrice.jsonl", dataset(generation_dataset(10)), GEMINI)
    finished(stack, "gemini-thrice.jsonl", generation_id)
    blob = stack.storage_client.bucket(stack.config.bucket).get_blob("incoming/gemini-thrice.jsonl")
    event = storage_cloudevent(
        {
            "data": base64.b64encode(orjson.dumps(blob._properties)).decode(),
            "attributes": {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": stack.config.bucket,
                "objectId": "incoming/gemini-thrice.jsonl",
            },
            "messageId": "again",
        }
    )
    assert event is not None
    for _ in range(2):
        assert requests.post(
            stack.function_urls["validate"], data=event[1], headers=event[0], timeout=60
        ).ok
    [job] = jobs_for(stack, "gemini-thrice.jsonl")
    assert wait_for(
        lambda: (
            sum(
                1
                for line in stack.logs("tune").splitlines()
                if "already past validation" in line and job["name"] in line
            )
            >= 2
        ),
        30,
    )
    assert len(jobs_for(stack, "gemini-thrice.jsonl")) == 1


def test_a_failed_gemini_job_is_recorded_by_the_sweep(stack: LocalStack) -> None:
    assert stack.vertex is not None
    stack.vertex.fail_next_job("Tuning quota exceeded for gemini-3.5-flash in us-central1.")
    generation_id = drop(stack, "gemini-doomed.jsonl", dataset(generation_dataset(10)), GEMINI)
    record = finished(stack, "gemini-doomed.jsonl", generation_id)
    assert record["state"] == "FAILED"
    assert record["error"] == {
        "code": 3,
        "message": "Tuning quota exceeded for gemini-3.5-flash in us-central1.",
    }


def test_pipeline_only_parameters_stop_a_gemini_job_before_it_starts(stack: LocalStack) -> None:
    generation_id = drop(
        stack,
        "gemini-steps.jsonl",
        dataset(generation_dataset(10)),
        {**GEMINI, "codetune-train_steps": "300"},
    )
    record = finished(stack, "gemini-steps.jsonl", generation_id)
    assert record["state"] == "REJECTED"
    assert tune_rules(record) == {("train_steps", "gemini")}
    assert jobs_for(stack, "gemini-steps.jsonl") == []


def test_the_sweep_rescues_a_pipeline_job_whose_event_was_lost(stack: LocalStack) -> None:
    assert stack.vertex is not None
    publish = stack.vertex.publish
    stack.vertex.publish = None  # the log sink's messages for this job never arrive
    try:
        generation_id = drop(stack, "lost-events.jsonl", dataset(generation_dataset(10)))
        record = finished(stack, "lost-events.jsonl", generation_id)
    finally:
        stack.vertex.publish = publish
    assert record["state"] == "SUCCEEDED" and record["tuned_model"]["model"]
    assert {step["by"] for step in record["history"][2:]} == {"sweep"}
    # Nothing left to sweep, once the end is announced (the job stays open until it is, so a
    # failed announcement is retried by the next sweep).
    bucket = stack.storage_client.bucket(stack.state_bucket)
    pointer = f"_codetune/open/{record['job']['id']}.json"
    deadline = time.monotonic() + 10
    while bucket.get_blob(pointer) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bucket.get_blob(pointer) is None


def test_gemini_submission_survives_a_delivery_that_died_half_way(stack: LocalStack) -> None:
    """The Gemini backend's claim protocol, against the emulator and the stand-in."""

    from codetune.exceptions import RetryableVertexError
    from codetune.gemini.plan import REQUEST_LABEL, TuningJobPlan
    from codetune.state import JobPointer
    from codetune.storage import Storage
    from codetune.tuning.backends import SubmitContext, plan_from_sources
    from codetune.tuning.backends.gemini import creation
    from codetune.tuning.backends.once import create_once
    from codetune.tuning.common import DatasetRef
    from codetune.vertex import VertexClient, VertexConfig

    assert stack.vertex is not None
    storage, vertex = Storage(), VertexClient(VertexConfig(endpoint=stack.vertex.url))
    bucket = stack.config.bucket

    def plan_for(generation: str) -> TuningJobPlan:
        values = {
            "project": "local-project",
            "pipeline_region": "us-central1",
            "large_model_reference": "gemini-3.5-flash",
        }
        result = plan_from_sources(
            DatasetRef(f"gs://{bucket}/incoming/claims.jsonl", generation),
            DatasetKind.GENERATION,
            20,
            [("test", values)],
        )
        assert isinstance(result, TuningJobPlan)
        return result

    def claim(plan: TuningJobPlan) -> str:
        return f"_codetune/claims/{plan.request_id}.json"

    def submit(plan: TuningJobPlan) -> tuple[dict[str, Any], bool]:
        ref = DatasetRef(f"gs://{bucket}/incoming/claims.jsonl", "1")
        context = SubmitContext(
            ref,
            DatasetKind.GENERATION,
            DatasetFormat.SEED,
            None,
            DatasetFormat.SEED,
            storage,
            RecordStore(storage, stack.state_bucket, uploads=bucket),
            vertex,
            lambda job: JobPointer(job, "gemini", bucket, ref.name, "1", "ct"),
            lambda tokens: None,  # no budget on this deployment
        )
        return create_once(context, creation(context, plan))

    # First delivery creates; a repeat reads the job from the claim.
    first = plan_for("1")
    job, created = submit(first)
    assert created is True
    again, created = submit(first)
    assert (again["name"], created) == (job["name"], False)

    # A delivery died after creating the job but before naming it in the claim.
    died = plan_for("2")
    made = vertex.create_tuning_job(died.request)
    storage.write_json(
        stack.state_bucket, claim(died), {"request": died.request_id, "since": time.time()}
    )
    found, created = submit(died)
    assert (found["name"], created) == (made["name"], False)
    assert stack.read_json(claim(died))["job"] == made["name"]
    assert (
        len(
            vertex.find_tuning_jobs(
                "local-project", "us-central1", (REQUEST_LABEL, died.request_id)
            )
        )
        == 1
    )

    # Another delivery is creating it right now: try again later, create nothing.
    busy = plan_for("3")
    storage.write_json(
        stack.state_bucket, claim(busy), {"request": busy.request_id, "since": time.time()}
    )
    with pytest.raises(RetryableVertexError):
        submit(busy)
    assert (
        vertex.find_tuning_jobs("local-project", "us-central1", (REQUEST_LABEL, busy.request_id))
        == []
    )

    # A claim left long ago by a delivery that died before creating anything is taken over.
    storage.write_json(
        stack.state_bucket, claim(busy), {"request": busy.request_id, "since": time.time() - 3600}
    )
    taken, created = submit(busy)
    assert created is True and stack.read_json(claim(busy))["job"] == taken["name"]


def test_the_vertex_stand_in_refuses_what_vertex_ai_refuses(stack: LocalStack) -> None:
    assert stack.vertex is not None
    jobs = f"{stack.vertex.url}/v1/projects/local-project/locations/us-central1/pipelineJobs"
    answer = requests.post(
        f"{jobs}?pipelineJobId=ok-id",
        json={"displayName": "x", "runtimeConfig": {}, "foo": 1},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert (
        "foo" in answer.json()["error"]["message"]
        and "gcsOutputDirectory" in answer.json()["error"]["message"]
    )
    assert requests.post(f"{jobs}?pipelineJobId=1-bad", data=b"{", timeout=10).status_code == 400
    body = {"displayName": "x", "runtimeConfig": {"gcsOutputDirectory": "gs://b/o"}}
    assert requests.post(f"{jobs}?pipelineJobId=Bad_Id", json=body, timeout=10).status_code == 400
    assert (
        requests.post(f"{jobs}?pipelineJobId=stand-in-twice", json=body, timeout=10).status_code
        == 200
    )
    again = requests.post(f"{jobs}?pipelineJobId=stand-in-twice", json=body, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"
    assert requests.get(f"{jobs}/no-such-job", timeout=10).status_code == 404
    tuning = f"{stack.vertex.url}/v1/projects/local-project/locations/us-central1/tuningJobs"
    refused = requests.post(
        tuning,
        json={"baseModel": "gemini-3.5-flash", "supervisedTuningSpec": {"epochs": 3}},
        timeout=10,
    )
    assert refused.status_code == 400 and "trainingDatasetUri" in refused.json()["error"]["message"]
    stack.vertex.inject_faults(503)
    assert requests.get(f"{jobs}/stand-in-twice", timeout=10).status_code == 503
    assert requests.get(f"{jobs}/stand-in-twice", timeout=10).status_code == 200


def test_a_listing_tells_finished_records_without_reading_them(stack: LocalStack) -> None:
    """The reconciler's scaling rests on Cloud Storage listings returning custom metadata
    (objects.list, projection noAcl): held here against the storage emulator."""
    from codetune.state.store import ANNOUNCED_METADATA, STAGE_METADATA
    from codetune.storage import Storage

    generation_id = drop(stack, "listed.jsonl", b'{"input_text": 7}\n')
    record = finished(stack, "listed.jsonl", generation_id)
    assert record["state"] == "REJECTED"
    name = RecordStore(Storage(), stack.config.bucket).record_name(
        "incoming/listed.jsonl", generation_id
    )
    [listed] = Storage().list_objects(stack.state_bucket, name)
    assert listed.metadata[STAGE_METADATA] == "REJECTED"
    # Announced on the completion topic by validate (a moment after the stage was written).
    deadline = time.monotonic() + 10
    while ANNOUNCED_METADATA not in listed.metadata and time.monotonic() < deadline:
        time.sleep(0.2)
        [listed] = Storage().list_objects(stack.state_bucket, name)
    assert listed.metadata == {STAGE_METADATA: "REJECTED", ANNOUNCED_METADATA: "true"}
    assert listed.generation and listed.updated is not None


def test_the_vertex_stand_in_fails_as_vertex_ai_does(stack: LocalStack) -> None:
    """The faults codetune chaos injects, each as the real service shows it."""
    from codetune.local.vertex_standin import NO_ANSWER

    assert stack.vertex is not None
    jobs = f"{stack.vertex.url}/v1/projects/local-project/locations/us-central1/pipelineJobs"
    body = {"displayName": "x", "runtimeConfig": {"gcsOutputDirectory": "gs://b/o"}}
    stack.vertex.inject_faults((409, "ABORTED"))
    aborted = requests.post(f"{jobs}?pipelineJobId=faults-1", json=body, timeout=10)
    assert aborted.status_code == 409 and aborted.json()["error"]["status"] == "ABORTED"
    assert requests.get(f"{jobs}/faults-1", timeout=10).status_code == 404  # nothing was made
    # After the create commits: an error, then no answer at all; the jobs exist regardless.
    stack.vertex.fail_after_commit(503, NO_ANSWER)
    assert requests.post(f"{jobs}?pipelineJobId=faults-2", json=body, timeout=10).status_code == 503
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{jobs}?pipelineJobId=faults-3", json=body, timeout=10)
    for made in ("faults-2", "faults-3"):
        assert requests.get(f"{jobs}/{made}", timeout=10).status_code == 200
    assert stack.vertex.vanish("projects/local-project/locations/us-central1/pipelineJobs/faults-2")
    assert requests.get(f"{jobs}/faults-2", timeout=10).status_code == 404


def test_the_push_relay_loses_repeats_and_delays_as_told(stack: LocalStack) -> None:
    """Lost: Pub/Sub is answered, the function never called; repeated: called twice."""
    relay = stack.relays["eventarc-validate"]
    seen: list[str] = []

    def route(body: bytes) -> list[float]:
        name = (orjson.loads(body)["message"].get("attributes") or {}).get("objectId", "")
        if name == "incoming/relay-lost.jsonl":
            seen.append(name)
            return []
        return [0.0]

    relay.route = route
    try:
        generation_id = drop(stack, "relay-lost.jsonl", dataset(generation_dataset(10)))
        assert wait_for(lambda: bool(seen), 30)
    finally:
        relay.route = lambda body: [0.0]
    assert relay.outcomes["lost"] >= 1
    # The storage event never reached validate: the sweep's reconciler validates it (the
    # grace period here is the default 300 s, so only no record is seen within the test).
    name = RecordStore(None, "b").record_name(  # type: ignore[arg-type]
        "incoming/relay-lost.jsonl", generation_id
    )
    assert not wait_for(lambda: stack.read_json(name) is not None, 3)


def test_a_downstream_subscriber_gets_one_message_per_dataset_that_ends(
    stack: LocalStack,
) -> None:
    """The completion topic on the Pub/Sub emulator: a message for every end (rejected,
    succeeded), one per dataset although every job event is delivered three times."""
    from collections import Counter
    from pathlib import Path

    import jsonschema

    from codetune.local.relay import once

    schema = orjson.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "finished.schema.json").read_bytes()
    )
    relay = stack.relays["status"]
    relay.route = lambda body: [0.0, 0.4, 0.8]
    try:
        ok = drop(stack, "told-ok.jsonl", dataset(generation_dataset(12)))
        bad = drop(stack, "told-bad.jsonl", dataset([generation(1, output_text="")] * 12))
        assert finished(stack, "told-ok.jsonl", ok)["state"] == "SUCCEEDED"
        assert finished(stack, "told-bad.jsonl", bad)["state"] == "REJECTED"
        received: list[tuple[dict[str, Any], dict[str, str]]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            received += [
                m for m in stack.finished_messages(timeout=2) if "/told-" in m[0]["dataset"]
            ]
            if len(received) >= 2:
                time.sleep(3)  # the repeated events and a sweep or two
                received += [
                    m for m in stack.finished_messages(timeout=2) if "/told-" in m[0]["dataset"]
                ]
                break
    finally:
        relay.route = once
    assert relay.outcomes["duplicated"] >= 1
    bucket = stack.config.bucket
    assert Counter(body["dataset"] for body, _ in received) == {
        f"gs://{bucket}/incoming/told-ok.jsonl": 1,
        f"gs://{bucket}/incoming/told-bad.jsonl": 1,
    }
    for body, attributes in received:
        jsonschema.validate(body, schema)
        assert (
            attributes["finished_id"] == f"{body['dataset']}#{body['generation']}/{body['stage']}"
        )
    stages = {body["generation"]: body["stage"] for body, _ in received}
    assert stages == {ok: "SUCCEEDED", bad: "REJECTED"}
    # One dataset's story, from the functions' own log lines, in order.
    story = codetune(
        stack, "logs", f"gs://{bucket}/incoming/told-ok.jsonl", "--local", str(stack.log_dir)
    )
    assert story.returncode == 0, story.stderr
    components = [line.split()[2] for line in story.stdout.splitlines()]
    assert components[0] == "validate" and "tune" in components
    assert components.index("tune") > components.index("validate")
    assert {"status", "sweep"} & set(components[components.index("tune") :])
    assert "told-bad" not in story.stdout


def test_a_copy_into_the_state_bucket_is_made_once(stack: LocalStack) -> None:
    """A repeated storage event pins the same version again: the copy made first stands, so
    the record's pinned generation stays the one every job reads (the emulator ignores the
    copy's ifGenerationMatch=0, Cloud Storage honours it: both are covered)."""
    from codetune.storage import Storage

    storage = Storage()
    generation_id = stack.upload(b'{"a": 1}\n', "outside/once.jsonl")
    copies = {
        storage.copy(
            stack.config.bucket, "outside/once.jsonl", generation_id, stack.state_bucket, "t/x"
        )
        for _ in range(3)
    }
    current = storage.current(stack.state_bucket, "t/x")
    assert current is not None and copies == {current.generation}
    gone = storage.copy(stack.config.bucket, "outside/once.jsonl", "1", stack.state_bucket, "t/y")
    assert gone is None
    # A missing state bucket is the deployment's fault, not a replaced upload: said, retried.
    from codetune.exceptions import StorageError

    with pytest.raises(StorageError, match="no such bucket"):
        storage.copy(stack.config.bucket, "outside/once.jsonl", generation_id, "no-such-b", "t")


def test_codetune_cancel_stops_a_running_job_and_the_record_says_who(stack: LocalStack) -> None:
    """The command line asks; tune, on the validated topic, cancels the job at the stand-in;
    the sweep records CANCELLED with the job's last state and who asked."""
    assert stack.vertex is not None
    slow, stack.vertex.step_seconds = stack.vertex.step_seconds, 30.0  # time to cancel it
    try:
        generation_id = drop(stack, "to-cancel.jsonl", dataset(generation_dataset(12)), GEMINI)
        assert wait_for(lambda: jobs_for(stack, "to-cancel.jsonl") != [], 60)
        uri = f"gs://{stack.config.bucket}/incoming/to-cancel.jsonl"
        assert wait_for(lambda: "SUBMITTED" in codetune(stack, "status", uri).stdout, 30)
        asked = codetune(stack, "cancel", uri, "--by", "ana")
        assert asked.returncode == 0, asked.stderr
        assert "cancel asked for" in asked.stdout and "(job projects/" in asked.stdout
        record = finished(stack, "to-cancel.jsonl", generation_id)
    finally:
        stack.vertex.step_seconds = slow
    assert record["state"] == "CANCELLED" and record["cancel"]["by"] == "ana"
    assert record["job"]["state"] == "JOB_STATE_CANCELLED"
    [job] = jobs_for(stack, "to-cancel.jsonl")
    assert job["state"] == "JOB_STATE_CANCELLED" and stack.vertex.cancelled == [job["name"]]
    again = codetune(stack, "cancel", uri)
    assert again.returncode == 1 and "has ended (CANCELLED): nothing to cancel" in again.stdout
    assert "to-cancel.jsonl" in codetune(stack, "runs", "--stage", "cancelled").stdout
    missing = codetune(stack, "cancel", f"gs://{stack.config.bucket}/incoming/never.jsonl")
    assert missing.returncode == 2 and "no record" in missing.stderr


def test_codetune_status_shows_a_running_jobs_progress(stack: LocalStack) -> None:
    """The sweep reads the Gemini job from v1beta1 while it runs: detail state, epochs done."""
    assert stack.vertex is not None
    slow, stack.vertex.step_seconds = stack.vertex.step_seconds, 8.0
    try:
        generation_id = drop(
            stack, "progress.jsonl", dataset(generation_dataset(12)),
            {**GEMINI, "codetune-epoch_count": "4"},
        )  # fmt: skip
        uri = f"gs://{stack.config.bucket}/incoming/progress.jsonl"
        assert wait_for(lambda: "progress: tuning, " in codetune(stack, "status", uri).stdout, 40)
        shown = codetune(stack, "status", uri).stdout
        assert "of 4 epochs done" in shown
        # --follow shows each change, and ends when the version does.
        followed = codetune(stack, "status", uri, "--follow")
        assert followed.returncode == 0, followed.stderr
        assert "progress: tuning, " in followed.stdout
        assert followed.stdout.rstrip().splitlines()[0].endswith(": RUNNING")
        assert "SUCCEEDED" in followed.stdout.split("progress: tuning, ")[-1]
        record = finished(stack, "progress.jsonl", generation_id)
    finally:
        stack.vertex.step_seconds = slow
    assert record["state"] == "SUCCEEDED" and record["progress"]["epochs"] == 4
