"""The Vertex AI client against a local HTTP server that answers as Vertex AI does."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from codetune.dataset import DatasetKind
from codetune.exceptions import PermanentVertexError, RetryableVertexError
from codetune.pipeline.plan import PipelineJobPlan, plan_pipeline_job
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import resolve
from codetune.vertex import VertexClient, VertexConfig


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeVertex:
    """Answers each request with the next scripted reply and records what it received."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.received: list[Received] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.received.append(
                    Received(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                reply = (
                    fake.replies.pop(0)
                    if fake.replies
                    else Reply(500, {"error": {"message": "no reply scripted"}})
                )
                time.sleep(reply.delay)
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                # The client may have given up waiting: what a timeout looks like from here.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


@pytest.fixture
def vertex() -> Iterator[FakeVertex]:
    server = FakeVertex()
    yield server
    server.close()


@pytest.fixture
def plan() -> PipelineJobPlan:
    parameters, _ = resolve(
        [
            (
                "test",
                {
                    "project": "acme-ml",
                    "pipeline_region": "europe-west4",
                    "output_dir": "gs://tuning-drop/out",
                    "accelerator_type": "TPU",
                },
            )
        ]
    )
    return plan_pipeline_job(
        DatasetRef.parse("gs://tuning-drop/in/a.jsonl#9"), DatasetKind.GENERATION, 100, parameters
    )


def client(vertex: FakeVertex, sleeps: list[float] | None = None, **config: Any) -> VertexClient:
    recorded = sleeps if sleeps is not None else []
    return VertexClient(
        VertexConfig(endpoint=vertex.url, **{"timeout_seconds": 2.0, **config}),
        sleep=recorded.append,
        jitter=lambda: 1.0,
    )


def job(plan: PipelineJobPlan, state: str = "PIPELINE_STATE_PENDING") -> dict[str, Any]:
    return {"name": plan.job_name, "state": state, **plan.body}


def test_create_sends_the_plan_and_returns_the_job(
    vertex: FakeVertex, plan: PipelineJobPlan
) -> None:
    vertex.replies = [Reply(200, job(plan))]
    submission = client(vertex).create_pipeline_job(plan.request)
    assert submission.created is True and submission.job["name"] == plan.job_name
    [request] = vertex.received
    assert request.method == "POST"
    assert (
        request.path
        == f"/v1/projects/acme-ml/locations/europe-west4/pipelineJobs?pipelineJobId={plan.job_id}"
    )
    assert request.body == plan.body
    assert request.headers["content-type"] == "application/json"


def test_already_exists_is_success_and_returns_the_existing_job(
    vertex: FakeVertex, plan: PipelineJobPlan
) -> None:
    vertex.replies = [
        Reply(409, google_error(409, "ALREADY_EXISTS", "PipelineJob already exists")),
        Reply(200, job(plan, "PIPELINE_STATE_RUNNING")),
    ]
    submission = client(vertex).create_pipeline_job(plan.request)
    assert submission.created is False and submission.job["state"] == "PIPELINE_STATE_RUNNING"
    assert [(r.method, r.path) for r in vertex.received][1] == ("GET", f"/v1/{plan.job_name}")


def test_429_and_5xx_are_retried_with_growing_backoff(
    vertex: FakeVertex, plan: PipelineJobPlan
) -> None:
    vertex.replies = [
        Reply(429, google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")),
        Reply(503, google_error(503, "UNAVAILABLE", "try later")),
        Reply(500, google_error(500, "INTERNAL", "oops")),
        Reply(200, job(plan)),
    ]
    sleeps: list[float] = []
    assert client(vertex, sleeps).get_job(plan.job_name)["name"] == plan.job_name
    assert len(vertex.received) == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert all(r.method == "GET" and plan.job_id in r.path for r in vertex.received)


def test_retry_after_is_honoured_within_the_cap(vertex: FakeVertex, plan: PipelineJobPlan) -> None:
    vertex.replies = [
        Reply(429, google_error(429, "RESOURCE_EXHAUSTED", "slow down"), {"Retry-After": "7"}),
        Reply(200, job(plan)),
    ]
    sleeps: list[float] = []
    client(vertex, sleeps).get_job(plan.job_name)
    assert sleeps == [7.0]


def test_backoff_is_bounded(vertex: FakeVertex, plan: PipelineJobPlan) -> None:
    vertex.replies = [Reply(503, google_error(503, "UNAVAILABLE", "down")) for _ in range(8)]
    sleeps: list[float] = []
    with pytest.raises(RetryableVertexError) as raised:
        client(vertex, sleeps, max_attempts=8, max_backoff_seconds=10.0).get_job(plan.job_name)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert raised.value.status == 503 and "down" in str(raised.value)
    assert len(vertex.received) == 8


def test_timeouts_are_retried_then_raised_as_retryable(
    vertex: FakeVertex, plan: PipelineJobPlan
) -> None:
    vertex.replies = [Reply(200, job(plan), delay=0.6) for _ in range(3)]
    sleeps: list[float] = []
    with pytest.raises(RetryableVertexError, match="no answer after 3 attempts"):
        client(vertex, sleeps, timeout_seconds=0.2, max_attempts=3).get_job(plan.job_name)
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(503, google_error(503, "UNAVAILABLE", "later")),
        Reply(200, {}, delay=0.6),  # the answer is lost: the job may exist
        Reply(409, google_error(409, "ABORTED", "concurrent modification")),
    ],
    ids=["5xx", "timeout", "aborted"],
)
def test_a_pipeline_job_create_is_sent_once_whatever_happens(
    vertex: FakeVertex, plan: PipelineJobPlan, reply: Reply
) -> None:
    """The id refuses a second job only while the first exists: a job deleted in between frees
    it. So a create is never re-sent; the caller looks the job up first (backends/once.py)."""
    vertex.replies = [reply, Reply(200, job(plan))]
    sleeps: list[float] = []
    with pytest.raises(RetryableVertexError):
        client(vertex, sleeps, timeout_seconds=0.3).create_pipeline_job(plan.request)
    assert len(vertex.received) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (400, "INVALID_ARGUMENT", "Invalid value for parameter train_steps"),
        (403, "PERMISSION_DENIED", "Permission 'aiplatform.pipelineJobs.create' denied"),
        (404, "NOT_FOUND", "Project acme-ml not found"),
    ],
)
def test_permanent_failures_carry_googles_message_and_are_not_retried(
    vertex: FakeVertex, plan: PipelineJobPlan, status: int, reason: str, message: str
) -> None:
    vertex.replies = [Reply(status, google_error(status, reason, message))]
    with pytest.raises(PermanentVertexError) as raised:
        client(vertex).create_pipeline_job(plan.request)
    assert (raised.value.status, raised.value.reason) == (status, reason)
    assert message in str(raised.value)
    assert len(vertex.received) == 1


def test_get_reads_a_job_by_name(vertex: FakeVertex, plan: PipelineJobPlan) -> None:
    vertex.replies = [Reply(200, job(plan, "PIPELINE_STATE_SUCCEEDED"))]
    assert client(vertex).get_job(plan.job_name)["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert vertex.received[0].path == f"/v1/{plan.job_name}"


def test_a_non_json_answer_is_a_permanent_failure(
    vertex: FakeVertex, plan: PipelineJobPlan
) -> None:
    vertex.replies = [Reply(200, None)]
    with pytest.raises(PermanentVertexError, match="not JSON"):
        client(vertex).get_job(plan.job_name)


def test_credentials_authorize_every_request(vertex: FakeVertex, plan: PipelineJobPlan) -> None:
    vertex.replies = [Reply(200, job(plan))]
    authorized = VertexClient(
        VertexConfig(endpoint=vertex.url), credentials=Credentials(token="test-token")
    )
    authorized.create_pipeline_job(plan.request)
    assert vertex.received[0].headers["authorization"] == "Bearer test-token"


def test_without_an_endpoint_the_regional_google_endpoint_is_used(plan: PipelineJobPlan) -> None:
    regional = VertexClient(credentials=Credentials(token="t"))
    assert regional._base(plan.region) + plan.path + f"?pipelineJobId={plan.job_id}" == plan.url


def test_a_409_is_read_by_its_status_not_taken_as_already_exists(
    vertex: FakeVertex, plan: PipelineJobPlan
) -> None:
    """ABORTED (a concurrent change) is retryable; it is not a job that exists."""
    aborted = Reply(409, google_error(409, "ABORTED", "concurrent modification"))
    vertex.replies = [aborted, aborted, Reply(200, job(plan))]
    with pytest.raises(RetryableVertexError) as raised:
        client(vertex).create_pipeline_job(plan.request)
    assert (raised.value.status, raised.value.reason) == (409, "ABORTED")
    assert client(vertex).get_job(plan.job_name)["name"] == plan.job_name  # retried where safe
    assert [r.method for r in vertex.received] == ["POST", "GET", "GET"]


def test_a_tuning_job_create_is_sent_once_whatever_happens(vertex: FakeVertex) -> None:
    """No client-chosen id: a re-sent create after a 5xx or a timeout could be a second paid
    job. The failure is raised as retryable for the caller to look the job up first."""
    from codetune.dataset import DatasetKind
    from codetune.tuning.backends import plan_from_sources
    from codetune.tuning.common import DatasetRef

    tuning = plan_from_sources(
        DatasetRef("gs://tuning-drop/incoming/a.jsonl", "1"),
        DatasetKind.GENERATION,
        100,
        [("test", {"project": "acme-ml", "pipeline_region": "us-central1"})],
    )
    for reply in (Reply(503, google_error(503, "UNAVAILABLE", "later")), Reply(200, {}, delay=0.6)):
        vertex.received.clear()
        vertex.replies = [reply, Reply(200, {"name": "projects/p/locations/l/tuningJobs/2"})]
        with pytest.raises(RetryableVertexError):
            client(vertex, timeout_seconds=0.3).create_tuning_job(tuning.request)  # type: ignore[attr-defined]
        assert len(vertex.received) == 1
