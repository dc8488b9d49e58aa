"""generateContent, the client's side: every model name is held to the deployment before a
request is built, the host comes from the deployment's regions and multi-regions only, and
throttling is retried with backoff (Retry-After honoured)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from codetune.config import Settings
from codetune.deployment import Deployment
from codetune.exceptions import ForeignName, PermanentVertexError, RetryableVertexError
from codetune.vertex import VertexClient, VertexConfig
from tests.unit.test_vertex_client import FakeVertex, Reply, google_error

DEPLOYMENT = Deployment(("acme-ml", "123456789012"), ("us-central1",))
BASE = "projects/acme-ml/locations/us-central1/publishers/google/models/gemini-3.5-flash"
TUNED = "projects/123456789012/locations/us/endpoints/4697676623812493312"
REQUEST = {
    "contents": [{"role": "user", "parts": [{"text": "Write add(x, y) in Python."}]}],
    "generationConfig": {"temperature": 0.0, "maxOutputTokens": 256},
}
ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "def add(x, y): return x + y"}]}}
    ],
    "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 9},
}


class Recorder:
    """A session that records every request instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.sent.append((method, url, kwargs.get("json")))

        class Response:
            status_code = 200
            url = ""
            headers: ClassVar[dict[str, str]] = {}

            def json(self) -> Any:
                return ANSWER

        return Response()


def recording(deployment: Deployment = DEPLOYMENT) -> tuple[VertexClient, Recorder]:
    vertex = VertexClient(VertexConfig(deployment=deployment))
    recorder = Recorder()
    vertex._session = recorder  # type: ignore[assignment]
    return vertex, recorder


def test_a_base_model_is_asked_at_its_regions_host() -> None:
    vertex, recorder = recording()
    assert vertex.generate_content(BASE, REQUEST) == ANSWER
    assert recorder.sent == [
        (
            "POST",
            f"https://us-central1-aiplatform.googleapis.com/v1/{BASE}:generateContent",
            REQUEST,
        )
    ]


def test_a_tuned_endpoint_in_the_regions_multi_region_is_asked_at_googles_host_for_it() -> None:
    vertex, recorder = recording()
    vertex.generate_content(TUNED, REQUEST)
    eu, eu_recorder = recording(Deployment(("acme-ml",), ("europe-west4",)))
    eu.generate_content("projects/acme-ml/locations/eu/endpoints/7", REQUEST)
    assert [url for _, url, _ in recorder.sent + eu_recorder.sent] == [
        f"https://aiplatform.us.rep.googleapis.com/v1/{TUNED}:generateContent",
        "https://aiplatform.eu.rep.googleapis.com/v1/projects/acme-ml/locations/eu/endpoints/7"
        ":generateContent",
    ]


@pytest.mark.parametrize(
    "name",
    [
        # Not the deployment's project, region or multi-region.
        "projects/someone-else/locations/us-central1/publishers/google/models/gemini-3.5-flash",
        "projects/acme-ml/locations/europe-west4/publishers/google/models/gemini-3.5-flash",
        "projects/acme-ml/locations/eu/endpoints/7",  # us-central1 lies in `us`, not `eu`
        "projects/acme-ml/locations/global/publishers/google/models/gemini-3.5-flash",
        "projects/acme-ml/locations/asia/endpoints/7",
        # Not a model's shape, or one that could step out of its path or pick a host.
        "projects/acme-ml/locations/us-central1/publishers/someone/models/gemini-3.5-flash",
        "projects/acme-ml/locations/us-central1/endpoints/7/../../x",
        "projects/acme-ml/locations/us-central1/endpoints/abc",
        "projects/acme-ml/locations/us-central1/models/7",
        "projects/acme-ml/locations/us-central1/tuningJobs/7",
        "projects/acme-ml/locations/us-central1/endpoints/7:predict",
        "projects/acme-ml/locations/us-central1/endpoints/7\n",
        "projects/acme-ml/locations/attacker.example?/endpoints/7",
        "projects/acme-ml/locations/us.evil.example#/endpoints/7",
        "publishers/google/models/gemini-3.5-flash",
        "gemini-3.5-flash",
        "",
        None,
    ],
)
def test_a_model_name_not_of_the_deployment_sends_nothing(name: Any) -> None:
    vertex, recorder = recording()
    with pytest.raises(ForeignName):
        vertex.generate_content(name, REQUEST)
    assert recorder.sent == []


def test_the_deployment_may_name_its_multi_regions_itself() -> None:
    """CODETUNE_MULTI_REGIONS: what the table cannot confirm, the deployment says."""
    settings = Settings.from_environment(
        {"CODETUNE_PROJECT": "acme-ml", "CODETUNE_REGION": "us-central1"}
    )
    assert settings.deployment.serving_multi_regions == ("us",)
    none = Settings.from_environment(
        {
            "CODETUNE_PROJECT": "acme-ml",
            "CODETUNE_REGION": "us-central1",
            "CODETUNE_MULTI_REGIONS": "none",
        }
    )
    vertex, recorder = recording(none.deployment)
    with pytest.raises(ForeignName):
        vertex.generate_content(TUNED.replace("123456789012", "acme-ml"), REQUEST)
    vertex.generate_content(BASE, REQUEST)  # its region still serves
    both = Settings.from_environment(
        {"CODETUNE_REGION": "us-central1", "CODETUNE_MULTI_REGIONS": "us, eu"}
    )
    assert both.deployment.serving_multi_regions == ("us", "eu")
    for wrong in ("asia", "us,global", ","):
        with pytest.raises(ValueError, match="CODETUNE_MULTI_REGIONS"):
            Settings.from_environment({"CODETUNE_MULTI_REGIONS": wrong})
    assert len(recorder.sent) == 1


def test_a_region_outside_every_multi_region_has_none() -> None:
    london = Deployment(("acme-ml",), ("europe-west2",))  # the United Kingdom: not the EU
    assert london.serving_multi_regions == ()
    with pytest.raises(ForeignName, match="multi-region 'eu'"):
        london.model_location("projects/acme-ml/locations/eu/endpoints/7")


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    server = FakeVertex()
    yield server
    server.close()


def against(fake: FakeVertex, sleeps: list[float], **config: Any) -> VertexClient:
    return VertexClient(
        VertexConfig(endpoint=fake.url, deployment=DEPLOYMENT, timeout_seconds=2.0, **config),
        sleep=sleeps.append,
        jitter=lambda: 1.0,
    )


def throttled(retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return Reply(429, google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted."), headers)


def test_throttling_is_retried_with_growing_backoff_and_retry_after(fake: FakeVertex) -> None:
    fake.replies = [
        throttled(),
        throttled("9"),
        Reply(500, google_error(500, "INTERNAL", "Internal error encountered.")),
        Reply(200, ANSWER),
    ]
    sleeps: list[float] = []
    assert against(fake, sleeps).generate_content(TUNED, REQUEST) == ANSWER
    assert sleeps == [1.0, 9.0, 4.0]  # 1, then Retry-After's 9 over 2, then 4
    assert [(r.method, r.path, r.body) for r in fake.received] == 4 * [
        ("POST", f"/v1/{TUNED}:generateContent", REQUEST)
    ]


def test_the_evaluation_may_allow_more_attempts_than_the_client(fake: FakeVertex) -> None:
    fake.replies = [throttled() for _ in range(6)] + [Reply(200, ANSWER)]
    sleeps: list[float] = []
    with pytest.raises(RetryableVertexError) as raised:
        against(fake, sleeps, max_attempts=3).generate_content(BASE, REQUEST)
    assert (raised.value.status, raised.value.reason) == (429, "RESOURCE_EXHAUSTED")
    assert len(fake.received) == 3
    assert against(fake, sleeps, max_attempts=3).generate_content(BASE, REQUEST, max_attempts=5)
    assert len(fake.received) == 3 + 4


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, google_error(400, "INVALID_ARGUMENT", "Unable to submit request")),
        Reply(404, google_error(404, "NOT_FOUND", "Endpoint not found.")),
        Reply(409, google_error(409, "ALREADY_EXISTS", "exists")),  # no answer at all
    ],
    ids=["400", "404", "409"],
)
def test_a_refusal_is_permanent_and_sent_once(fake: FakeVertex, reply: Reply) -> None:
    fake.replies = [reply, Reply(200, ANSWER)]
    sleeps: list[float] = []
    with pytest.raises(PermanentVertexError) as raised:
        against(fake, sleeps).generate_content(TUNED, REQUEST)
    assert raised.value.status == reply.status and len(fake.received) == 1 and sleeps == []
