"""Cancelling a job (tuningJobs.cancel, pipelineJobs.cancel), the client against the Vertex AI
stand-in: the request is Google's (POST {name}:cancel, an empty CancelTuningJobRequest), the
job goes CANCELLING then CANCELLED with google.rpc code 1 and stays there, an ended job is
refused with FAILED_PRECONDITION and a missing one with 404, and a name outside the deployment
is never sent."""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema
import pytest

from codetune.dataset import DatasetKind
from codetune.deployment import Deployment
from codetune.exceptions import ForeignName, PermanentVertexError
from codetune.local.discovery import json_schema
from codetune.local.vertex_standin import VertexStandIn, wait_for
from codetune.tuning.backends import plan_from_sources
from codetune.tuning.backends.gemini import GeminiBackend
from codetune.tuning.common import DatasetRef
from codetune.vertex import VertexClient, VertexConfig

DEPLOYMENT = {"project": "acme-ml", "pipeline_region": "us-central1"}
STEP = 0.5


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    server = VertexStandIn(step_seconds=STEP).start()
    yield server
    server.stop()


def client(standin: VertexStandIn) -> VertexClient:
    config = VertexConfig(
        endpoint=standin.url, max_attempts=1, deployment=Deployment(("acme-ml",), ("us-central1",))
    )
    return VertexClient(config)


def created(vertex: VertexClient) -> str:
    plan = plan_from_sources(
        DatasetRef("gs://drop/incoming/a.jsonl", "1"),
        DatasetKind.GENERATION,
        100,
        [("deployment", {**DEPLOYMENT, "epoch_count": "2"})],
        state_bucket="drop-state",
    )
    return str(vertex.create_tuning_job(plan.request)["name"])


def test_a_running_job_is_cancelled_and_stays_cancelled(standin: VertexStandIn) -> None:
    vertex = client(standin)
    name = created(vertex)
    vertex.cancel_job(name)
    assert vertex.get_job(name)["state"] == "JOB_STATE_CANCELLING"
    assert wait_for(lambda: vertex.get_job(name)["state"] == "JOB_STATE_CANCELLED", 5)
    job = vertex.get_job(name)
    assert job["error"]["code"] == 1  # google.rpc.Code.CANCELLED
    jsonschema.validate(job, json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1TuningJob"))
    # The steps it was due to take (RUNNING, SUCCEEDED) no longer move it.
    assert not wait_for(lambda: vertex.get_job(name)["state"] != "JOB_STATE_CANCELLED", 3 * STEP)
    assert GeminiBackend().outcome(job).stage == "CANCELLED"
    assert ("POST", f"/v1/{name}:cancel") in standin.requests and standin.cancelled == [name]


def test_an_ended_job_or_a_missing_one_is_refused(standin: VertexStandIn) -> None:
    vertex = client(standin)
    name = created(vertex)
    assert wait_for(lambda: vertex.get_job(name)["state"] == "JOB_STATE_SUCCEEDED", 5)
    with pytest.raises(PermanentVertexError) as ended:
        vertex.cancel_job(name)
    assert (ended.value.status, ended.value.reason) == (400, "FAILED_PRECONDITION")
    assert vertex.get_job(name)["state"] == "JOB_STATE_SUCCEEDED"
    gone = name.rpartition("/")[0] + "/999"
    with pytest.raises(PermanentVertexError) as missing:
        vertex.cancel_job(gone)
    assert missing.value.status == 404
    assert standin.cancelled == []


def test_a_name_outside_the_deployment_is_never_sent(standin: VertexStandIn) -> None:
    vertex = client(standin)
    with pytest.raises(ForeignName):
        vertex.cancel_job("projects/other/locations/us-central1/tuningJobs/1")
    assert not any(path.endswith(":cancel") for _, path in standin.requests)


def test_a_pipeline_job_is_cancelled_and_its_events_say_so(standin: VertexStandIn) -> None:
    vertex = client(standin)
    plan = plan_from_sources(
        DatasetRef("gs://drop/incoming/a.jsonl", "1"),
        DatasetKind.GENERATION,
        100,
        [
            ("deployment", {**DEPLOYMENT, "output_dir": "gs://drop-state/pipeline"}),
            ("manifest", {"large_model_reference": "code-bison@002"}),
        ],
        state_bucket="drop-state",
    )
    name = str(vertex.create_pipeline_job(plan.request).job["name"])
    vertex.cancel_job(name)
    assert wait_for(lambda: vertex.get_job(name)["state"] == "PIPELINE_STATE_CANCELLED", 5)
    states = [e["jsonPayload"]["state"] for e in standin.log_entries]
    assert states[-2:] == ["PIPELINE_STATE_CANCELLING", "PIPELINE_STATE_CANCELLED"]
    assert "PIPELINE_STATE_SUCCEEDED" not in states


def test_a_running_tuning_job_reads_with_its_progress_from_v1beta1(
    standin: VertexStandIn,
) -> None:
    vertex = client(standin)
    name = created(vertex)
    assert wait_for(lambda: vertex.get_job(name)["state"] == "JOB_STATE_RUNNING", 5, 0.02)
    job = vertex.get_job(name)
    assert ("GET", f"/v1beta1/{name}") in standin.requests
    jsonschema.validate(
        job, json_schema("aiplatform", "v1beta1", "GoogleCloudAiplatformV1beta1TuningJob")
    )
    assert job["tuningJobState"] == "TUNING_JOB_STATE_TUNING"
    assert int(job["tuningJobMetadata"]["completedEpochCount"]) in (0, 1)
    progress = GeminiBackend().outcome(job).progress
    assert progress is not None and progress.epochs == 2
    assert progress.describe().startswith("tuning, ")
