"""tuningJobs.list on the Vertex AI stand-in, as the sweep sends it through the client: the
label filter in the form Google documents (anything else refused), pages of `pageSize` cut to
the stand-in's maximum, page tokens good only for the request they came with, v1beta1's jobs
with their progress, and every answer held to the discovery document's response schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests

from codetune.dataset import DatasetKind
from codetune.deployment import Deployment
from codetune.gemini.plan import LIST_LABEL, list_label
from codetune.local import vertex_standin
from codetune.local.discovery import json_schema
from codetune.local.vertex_standin import VertexStandIn, now
from codetune.tuning.backends import plan_from_sources
from codetune.tuning.common import DatasetRef
from codetune.vertex import VertexClient, VertexConfig

PROJECT, REGION = "acme-ml", "us-central1"
DAY_A, DAY_B = 1_764_547_200_000_000, 1_764_633_600_000_000  # 2025-12-01 and -02, in μs
LIST_RESPONSE = jsonschema.Draft202012Validator(
    json_schema("aiplatform", "v1beta1", "GoogleCloudAiplatformV1beta1ListTuningJobsResponse")
)


@pytest.fixture(scope="module")
def server() -> Iterator[VertexStandIn]:
    started = VertexStandIn(step_seconds=3600).start()  # states move only when a test says
    yield started
    started.stop()


@pytest.fixture
def standin(server: VertexStandIn) -> VertexStandIn:
    with server._lock:
        server.jobs.clear()
        server.requests.clear()
    return server


def client(standin: VertexStandIn) -> VertexClient:
    deployment = Deployment((PROJECT,), (REGION,))
    return VertexClient(VertexConfig(endpoint=standin.url, deployment=deployment, max_attempts=1))


def create(
    vertex: VertexClient, name: str, generation: int, state_bucket: str = "drop-state"
) -> str:
    plan = plan_from_sources(
        DatasetRef(f"gs://drop/incoming/{name}.jsonl", str(generation)),
        DatasetKind.GENERATION,
        100,
        [("deployment", {"project": PROJECT, "pipeline_region": REGION})],
        state_bucket=state_bucket,
    )
    return str(vertex.create_tuning_job(plan.request)["name"])


def listing(standin: VertexStandIn, version: str = "v1beta1", **params: str) -> Any:
    url = f"{standin.url}/{version}/projects/{PROJECT}/locations/{REGION}/tuningJobs"
    return requests.get(url, params=params, timeout=10)


def label(generation: int, state_bucket: str = "drop-state") -> tuple[str, str]:
    value = list_label(state_bucket, str(generation))
    assert value is not None
    return LIST_LABEL, value


def test_the_sweeps_list_returns_the_labelled_jobs_page_by_page(
    standin: VertexStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    vertex = client(standin)
    day_a = [create(vertex, f"a{i}", DAY_A + i) for i in range(5)]
    create(vertex, "b", DAY_B)  # another day's upload
    create(vertex, "c", DAY_A, state_bucket="other-deployment-state")  # another deployment's
    monkeypatch.setattr(vertex_standin, "LIST_PAGE_SIZE", 2)  # the client asks for 100
    pages = list(vertex.tuning_job_pages(PROJECT, REGION, label(DAY_A)))
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [job["name"] for page in pages for job in page] == day_a
    paths = [path for method, path in standin.requests if method == "GET"]
    assert paths == [f"/v1beta1/projects/{PROJECT}/locations/{REGION}/tuningJobs"] * 3
    assert list(vertex.tuning_job_pages(PROJECT, REGION, label(DAY_A + 3 * 86_400_000_000))) == [[]]


def test_a_page_size_and_tokens_walk_every_job_once(standin: VertexStandIn) -> None:
    vertex = client(standin)
    made = [create(vertex, f"a{i}", DAY_A) for i in range(4)]
    wanted = f'labels.{LIST_LABEL}="{label(DAY_A)[1]}"'
    seen: list[str] = []
    token = ""
    for _ in range(10):
        answer = listing(
            standin, filter=wanted, pageSize="1", **({"pageToken": token} if token else {})
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert list(LIST_RESPONSE.iter_errors(page)) == []
        seen += [job["name"] for job in page["tuningJobs"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen == made
    unquoted = listing(standin, filter=f"labels.{LIST_LABEL}={label(DAY_A)[1]}", pageSize="0")
    assert [job["name"] for job in unquoted.json()["tuningJobs"]] == made  # the default size
    assert listing(standin, filter='labels.codetune-sweep="none"').json() == {}


def test_v1beta1_lists_jobs_with_their_progress_as_its_get_does(standin: VertexStandIn) -> None:
    vertex = client(standin)
    name = create(vertex, "a", DAY_A)
    with standin._lock:
        standin.jobs[name].update(state="JOB_STATE_RUNNING", startTime=now())
    wanted = f'labels.{LIST_LABEL}="{label(DAY_A)[1]}"'
    [beta] = listing(standin, filter=wanted).json()["tuningJobs"]
    [v1] = listing(standin, "v1", filter=wanted).json()["tuningJobs"]
    assert beta["tuningJobState"] == vertex.get_job(name)["tuningJobState"]
    assert "tuningJobState" not in v1 and v1["state"] == "JOB_STATE_RUNNING"


@pytest.mark.parametrize(
    "params",
    [
        {"filter": 'state="JOB_STATE_RUNNING"'},  # a field filter Google does not document here
        {"filter": 'labels.a="b" AND labels.c="d"'},
        {"filter": 'labels.Team="ml"'},  # label keys are lowercase
        {"filter": 'labels.team="ml'},  # an unclosed quote
        {"filter": 'labels.team="ml" OR labels.team="x"'},
        {"orderBy": "createTime"},  # not a parameter of tuningJobs.list
        {"pageSize": "-1"},
        {"pageSize": "ten"},
        {"pageToken": "not-a-token"},
    ],
)
def test_what_the_method_does_not_take_is_refused(
    standin: VertexStandIn, params: dict[str, str]
) -> None:
    answer = listing(standin, **params)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_a_page_token_is_good_only_for_its_own_request(standin: VertexStandIn) -> None:
    vertex = client(standin)
    for i in range(3):
        create(vertex, f"a{i}", DAY_A)
    first = listing(standin, filter=f'labels.{LIST_LABEL}="{label(DAY_A)[1]}"', pageSize="1")
    token = first.json()["nextPageToken"]
    other = listing(standin, filter='labels.team="ml"', pageToken=token)
    assert other.status_code == 400
    assert listing(standin, pageToken=token).status_code == 400  # nor without the filter
