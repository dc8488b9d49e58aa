"""The sweep reads open Gemini jobs from a few paged tuningJobs.list requests by the label the
deployment's jobs of one upload day share, not with one get a job: a job the list did not
return (made before the label, a list that failed) is read by get, a list that names a job
outside the deployment is not used, and the label leaves every request digest as it was."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.exceptions import ForeignName, RetryableVertexError
from codetune.gemini.plan import LIST_LABEL
from codetune.state import JobPointer, Stage
from codetune.state.store import RecordStore
from codetune.vertex import VertexClient, VertexConfig
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryStorage
from tests.unit.test_app import BUCKET, ENVIRON, LOG, SETTINGS, store, validated
from tests.unit.test_trust import DEPLOYMENT


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def running_jobs(storage: MemoryStorage, vertex: FakeVertex, count: int) -> list[str]:
    """`count` datasets tuned (one upload day), their jobs RUNNING; the job names."""
    for index in range(count):
        message = validated(
            storage, f"incoming/l{index:03d}.jsonl", dataset(generation_dataset(12))
        )
        assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    for name in vertex.jobs:
        vertex.finish(name, "JOB_STATE_RUNNING")
    return list(vertex.jobs)


def stages(storage: MemoryStorage) -> list[Stage]:
    records = store(storage)
    found = []
    for listed in records.listed_records():
        key, _, leaf = listed.name.removeprefix("_codetune/records/").rpartition("/")
        record = records.record(key, leaf.removesuffix(".json"))
        assert record is not None
        found.append(record.state)
    return found


def test_many_open_jobs_are_read_from_a_few_pages_not_a_get_each() -> None:
    storage, vertex = MemoryStorage(), FakeVertex()
    names = running_jobs(storage, vertex, 60)
    vertex.page_size = 25
    vertex.gets = 0
    result = sweep(store(storage), vertex, LOG)
    assert (result.jobs, result.listed) == (60, 60)
    assert (vertex.list_pages, vertex.gets) == (3, 0)  # ceil(60 / 25) pages, no get
    assert set(stages(storage)) == {Stage.RUNNING}
    for name in names[:10]:
        vertex.finish(name, "JOB_STATE_FAILED", error={"code": 3, "message": "bad data"})
    vertex.list_pages = 0
    result = sweep(store(storage), vertex, LOG)
    assert (result.finished, vertex.list_pages, vertex.gets) == (10, 3, 0)
    assert sorted(stages(storage)).count(Stage.FAILED) == 10
    assert len(store(storage).open_jobs(lambda name, fault: None)) == 50


def test_a_job_the_list_does_not_return_is_read_by_get() -> None:
    """A job made before the sweep's label (or its pointer's) is not among the pages: read by get."""
    storage, vertex = MemoryStorage(), FakeVertex()
    old, *_ = running_jobs(storage, vertex, 5)
    del vertex.jobs[old]["labels"][LIST_LABEL]  # as the job of an older release
    vertex.finish(old, "JOB_STATE_SUCCEEDED", tunedModel={"model": "models/1"})
    vertex.gets = 0
    result = sweep(store(storage), vertex, LOG)
    assert (result.listed, result.finished, vertex.gets, vertex.list_pages) == (4, 1, 1, 1)
    assert sorted(stages(storage)) == sorted([Stage.SUCCEEDED] + [Stage.RUNNING] * 4)


def test_a_list_that_fails_leaves_every_job_to_its_get() -> None:
    storage, vertex = MemoryStorage(), FakeVertex()
    running_jobs(storage, vertex, 4)
    vertex.gets = 0
    vertex.list_fault = RetryableVertexError("GET tuningJobs: 503", 503)
    result = sweep(store(storage), vertex, LOG)
    assert (result.jobs, result.listed, result.unreadable, vertex.gets) == (4, 0, 0, 4)
    assert set(stages(storage)) == {Stage.RUNNING}


def test_one_open_job_of_a_day_is_read_by_get_alone() -> None:
    """A list would cost the get's one request at least, and a page of ended jobs more."""
    storage, vertex = MemoryStorage(), FakeVertex()
    running_jobs(storage, vertex, 1)
    vertex.gets = 0
    result = sweep(store(storage), vertex, LOG)
    assert (result.listed, vertex.list_pages, vertex.gets) == (0, 0, 1)


def test_paging_stops_before_it_costs_more_than_the_gets() -> None:
    """Two open jobs among 1,000 ended ones of their label: two pages, then their gets, not
    a hundred pages."""
    storage, vertex = MemoryStorage(), FakeVertex()
    names = running_jobs(storage, vertex, 2)
    label = vertex.jobs[names[0]]["labels"][LIST_LABEL]
    vertex.page_size = 10
    vertex.gets = 0
    ended = {
        f"projects/acme-ml/locations/us-central1/tuningJobs/9{i:04d}": {
            "name": f"projects/acme-ml/locations/us-central1/tuningJobs/9{i:04d}",
            "state": "JOB_STATE_SUCCEEDED",
            "labels": {LIST_LABEL: label},
        }
        for i in range(1000)
    }
    vertex.jobs = {**ended, **vertex.jobs}  # listed first
    sweep(store(storage), vertex, LOG)
    assert (vertex.list_pages, vertex.gets) == (2, 2)


class Answers:
    """A session answering a list with `page` and a get with the job it names."""

    def __init__(self, page: dict[str, Any]) -> None:
        self.page, self.urls = page, []  # type: ignore[var-annotated]

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.urls.append(url)
        name = url.partition("/v1beta1/")[2]
        answer = (
            self.page
            if name.endswith("/tuningJobs")
            else {"name": name, "state": "JOB_STATE_RUNNING"}
        )

        class Response:
            status_code = 200
            headers: ClassVar[dict[str, str]] = {}

            def json(self) -> Any:
                return answer

        return Response()


def test_a_list_naming_a_job_outside_the_deployment_is_not_used(storage: MemoryStorage) -> None:
    records = RecordStore.of(storage, SETTINGS)
    generation = "1700000000000001"
    ours = [f"projects/123456789012/locations/us-central1/tuningJobs/{i}" for i in (1, 2)]
    for index, name in enumerate(ours):
        pointer = JobPointer(name, "gemini", BUCKET, f"incoming/{index}.jsonl", generation, "ct")
        records.open_job(pointer)
        records.advance(pointer.dataset, generation, Stage.SUBMITTED, "tune")
    foreign = "projects/123456789012/locations/attacker.example?/tuningJobs/1"
    page = {"tuningJobs": [{"name": n, "state": "JOB_STATE_SUCCEEDED"} for n in (*ours, foreign)]}
    session = Answers(page)
    vertex = VertexClient(VertexConfig(deployment=DEPLOYMENT))
    vertex._session = session  # type: ignore[assignment]
    result = sweep(records, vertex, LOG)
    # Not one of the list's states is used: each job is read by get (and is RUNNING there).
    assert (result.listed, result.finished) == (0, 0)
    assert len(session.urls) == 3 and all("attacker" not in url for url in session.urls)
    assert set(stages(storage)) == {Stage.RUNNING}


def test_a_list_is_sent_only_to_the_deployments_project_and_regions() -> None:
    session = Answers({})
    vertex = VertexClient(VertexConfig(deployment=DEPLOYMENT))
    vertex._session = session  # type: ignore[assignment]
    label = (LIST_LABEL, "20261201-drop-state")
    for project, region in (("someone-else", "us-central1"), ("acme-ml", "europe-west4"),
                            ("acme-ml/x", "us-central1"), ("acme-ml", "us-central1?#")):  # fmt: skip
        with pytest.raises(ForeignName):
            next(vertex.tuning_job_pages(project, region, label))
    with pytest.raises(ValueError):
        next(vertex.tuning_job_pages("acme-ml", "us-central1", (LIST_LABEL, 'x" OR name:"')))
    assert session.urls == []
    assert list(vertex.tuning_job_pages("acme-ml", "us-central1", label)) == [[]]
    assert session.urls == [
        "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/acme-ml/locations/"
        "us-central1/tuningJobs"
    ]


def test_a_job_of_an_older_release_is_found_by_its_request_and_swept_by_get(
    storage: MemoryStorage,
) -> None:
    """A job created before the label, its create ambiguous: the next delivery finds it by its
    request label (its digest unchanged), creates no second one, and the sweep reads it."""
    vertex = FakeVertex()
    vertex.ambiguous = 1
    message = validated(storage, "incoming/old.jsonl", dataset(generation_dataset(12)))
    with pytest.raises(RetryableVertexError):
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    [job] = vertex.jobs.values()
    del job["labels"][LIST_LABEL]  # as the older release created it
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is (
        Tuning.ALREADY_SUBMITTED
    )
    assert vertex.creates == 1
    vertex.finish(job["name"], "JOB_STATE_RUNNING")
    vertex.gets = 0
    assert sweep(store(storage), vertex, LOG).listed == 0 and vertex.gets == 1
    assert stages(storage) == [Stage.RUNNING]
