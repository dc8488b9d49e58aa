"""The trust boundary (docs/guarantees.md): what an uploader writes never reaches the system's
state, never picks a host, and never becomes a deployment setting."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest

from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.app.validate import Validation, validate_upload
from codetune.config import Settings
from codetune.deployment import Deployment
from codetune.exceptions import ForeignName
from codetune.local.eventarc import EventarcStandIn
from codetune.messages import DatasetValidated
from codetune.state import JobPointer, Stage
from codetune.state.records import Inputs
from codetune.state.store import RecordStore
from codetune.tuning.parameters import resolve
from codetune.tuning.sources import frozen_sources
from codetune.vertex import VertexClient, VertexConfig
from tests.support import dataset, generation, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import BUCKET, ENVIRON, LOG, SETTINGS, STATE, store, upload, validated


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


DEPLOYMENT = Deployment(("acme-ml", "123456789012"), ("us-central1",))
OURS = "projects/123456789012/locations/us-central1/tuningJobs/42"


class Recorder:
    """A session that records every request instead of sending it."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.urls: list[str] = []
        self.answer = answer

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.urls.append(url)
        recorder = self

        class Response:
            status_code = 200
            url = ""
            headers: ClassVar[dict[str, str]] = {}

            def json(self) -> Any:
                return recorder.answer or {"name": OURS, "state": "JOB_STATE_RUNNING"}

        return Response()


def client(recorder: Recorder) -> VertexClient:
    vertex = VertexClient(VertexConfig(deployment=DEPLOYMENT))
    vertex._session = recorder  # type: ignore[assignment]
    return vertex


@pytest.mark.parametrize(
    "name",
    [
        "projects/acme-ml/locations/attacker.example?/pipelineJobs/1",
        "projects/acme-ml/locations/attacker.example#/tuningJobs/1",
        "projects/acme-ml/locations/europe-west4/tuningJobs/1",  # not the deployment's region
        "projects/someone-else/locations/us-central1/tuningJobs/1",  # not its project
        "projects/acme-ml/locations/us-central1/tuningJobs/1/../../x",
        "projects/acme-ml/locations/us-central1/models/1",
        "projects/acme-ml/locations/us-central1/tuningJobs/1\n",
        "",
        None,
    ],
)
def test_a_job_name_not_of_the_deployment_sends_nothing(name: Any) -> None:
    recorder = Recorder()
    with pytest.raises(ForeignName):
        client(recorder).get_job(name)
    assert recorder.urls == []


def test_hosts_come_from_the_deployments_regions_only() -> None:
    recorder = Recorder()
    vertex = client(recorder)
    vertex.get_job(OURS)
    vertex.get_job("projects/acme-ml/locations/us-central1/pipelineJobs/codetune-a1")
    assert recorder.urls == [
        # A tuning job is read from v1beta1, with its progress.
        f"https://us-central1-aiplatform.googleapis.com/v1beta1/{OURS}",
        "https://us-central1-aiplatform.googleapis.com/v1/projects/acme-ml/locations/"
        "us-central1/pipelineJobs/codetune-a1",
    ]
    for region in ("attacker.example?", "europe-west4", "us-central1.evil.example#"):
        with pytest.raises(ForeignName):
            vertex.list_tuning_jobs("acme-ml", region)
    with pytest.raises(ForeignName):
        vertex.list_tuning_jobs("someone-else", "us-central1")
    assert len(recorder.urls) == 2


def test_a_job_name_vertex_ai_answers_with_is_checked_too() -> None:
    recorder = Recorder({"name": "projects/acme-ml/locations/attacker.example?/tuningJobs/1"})
    with pytest.raises(ForeignName):
        client(recorder).get_job(OURS)


def test_a_forged_pointer_ends_its_dataset_failed_without_a_request(
    storage: MemoryStorage,
) -> None:
    """A pointer naming another host (written by anyone who could write state) is refused:
    the dataset ends FAILED with the reason, the pointer is closed, no request leaves."""
    message = validated(storage, "incoming/p.jsonl", dataset(generation_dataset(12)))
    records = store(storage)
    forged = "projects/acme-ml/locations/attacker.example?/tuningJobs/1"
    pointer = JobPointer(forged, "gemini", BUCKET, message.name, message.generation, "ct")
    records.open_job(pointer)
    records.advance(message.name, message.generation, Stage.SUBMITTED, "tune")
    recorder = Recorder()
    result = sweep(records, client(recorder), LOG)
    assert (result.jobs, result.finished, recorder.urls) == (1, 1, [])
    record = records.record(message.name, message.generation)
    assert record is not None and record.state is Stage.FAILED
    assert record.error is not None and record.error.reason == "foreign-job"
    assert records.open_jobs(lambda name, fault: None) == []


def test_every_system_object_is_in_the_state_bucket(storage: MemoryStorage) -> None:
    """Through a whole chain, the upload bucket gains only the reports and the run page beside
    the upload."""
    manifest = b'{"evaluation": "s.eval.jsonl"}'
    storage.put(BUCKET, "incoming/s.tuning.json", manifest)
    validate_upload(
        upload(storage, "incoming/s.eval.jsonl", dataset([generation(i) for i in range(100, 108)])),
        storage,
        MemoryPublisher(),
        SETTINGS,
        LOG,
    )
    vertex = FakeVertex()
    message = validated(storage, "incoming/s.jsonl", dataset(generation_dataset(12)))
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs.values()
    vertex.finish(job["name"], "JOB_STATE_SUCCEEDED", tunedModel={"model": "m"})
    sweep(store(storage), vertex, LOG)
    uploads = set(storage.list_names(BUCKET, ""))
    assert uploads == {
        "incoming/s.tuning.json",
        "incoming/s.jsonl",
        "incoming/s.eval.jsonl",
        *(
            f"incoming/{n}.report.{e}"
            for n in ("s.jsonl", "s.eval.jsonl")
            for e in ("json", "html")
        ),
        "incoming/s.jsonl.run.html",
    }
    state = storage.list_names(STATE, "")
    assert state and all(name.startswith("_codetune/") for name in state)
    spec = job["supervisedTuningSpec"]
    for uri in (spec["trainingDatasetUri"], spec["validationDatasetUri"]):
        assert uri.startswith(f"gs://{STATE}/_codetune/converted/")


def test_forged_state_in_the_upload_bucket_is_never_read(storage: MemoryStorage) -> None:
    """What an uploader can create (records, pointers, claims, pinned copies in the upload
    bucket) starts no job and changes no record."""
    message = validated(storage, "incoming/f.jsonl", dataset(generation_dataset(12)))
    records = store(storage)
    forged = records.record(message.name, message.generation)
    assert forged is not None
    layers = {"layers": [["deployment", {"epoch_count": 100}]], "problems": []}
    as_uploaded = msgspec.structs.replace(forged, inputs=layers)
    record_name = records.record_name(message.name, message.generation)
    storage.put(BUCKET, record_name, msgspec.json.encode(as_uploaded.to_json()))
    storage.put(BUCKET, records.pinned_name(message.name, message.generation), b'{"a": 1}\n')
    foreign = "projects/acme-ml/locations/attacker.example?/tuningJobs/1"
    pointer = JobPointer(foreign, "gemini", BUCKET, message.name, message.generation, "ct")
    storage.put(BUCKET, "_codetune/open/1.json", msgspec.json.encode(pointer.to_json()))
    storage.put(BUCKET, "_codetune/jobs/1.json", msgspec.json.encode(pointer.to_json()))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs.values()
    assert "epochCount" not in job["supervisedTuningSpec"].get("hyperParameters", {})
    assert [p.job for p in records.open_jobs(lambda name, fault: None)] == [job["name"]]


def test_a_stored_layer_claiming_the_deployment_is_the_uploaders() -> None:
    inputs = Inputs((("deployment", {"service_account": "x@y.iam.gserviceaccount.com"}),))
    sources, _ = frozen_sources({}, inputs)
    parameters, problems = resolve(sources)
    assert parameters.service_account is None
    assert [(p.parameter, p.rule) for p in problems] == [("service_account", "deployment-only")]


def test_tune_drops_a_dataset_outside_the_upload_prefix(storage: MemoryStorage) -> None:
    """Even with a record and a pinned copy for it (state an older release kept beside the
    uploads, where anyone who could write there could forge them)."""
    message = validated(storage, "incoming/o.jsonl", dataset(generation_dataset(12)))
    records = store(storage)
    outside = msgspec.structs.replace(message, name="staging/leak.jsonl")
    for name in (records.record_name, records.pinned_name):
        data = storage.live[STATE, name(message.name, message.generation)][1]
        storage.put(STATE, name(outside.name, outside.generation), data)
    vertex = FakeVertex()
    assert tune_dataset(outside, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.DROPPED
    assert vertex.creates == 0


def test_a_job_reads_the_pinned_generation_validate_made(storage: MemoryStorage) -> None:
    message = validated(storage, "incoming/g.jsonl", dataset(generation_dataset(12)))
    records = store(storage)
    record = records.record(message.name, message.generation)
    assert record is not None and record.pinned is not None
    pinned = records.pinned_name(message.name, message.generation)
    assert storage.current(STATE, pinned).generation == record.pinned  # type: ignore[union-attr]
    storage.put(STATE, pinned, dataset([generation(i) for i in range(50, 62)]))  # replaced
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    assert vertex.creates == 0
    failed = records.record(message.name, message.generation)
    assert failed is not None and failed.error is not None
    assert [p.rule for p in failed.error.problems] == ["pinned"]


def test_the_state_bucket_is_never_the_upload_bucket() -> None:
    assert Settings(project="p", bucket="drop").state == "drop-state"
    env = {"CODETUNE_BUCKET": "drop", "CODETUNE_STATE_BUCKET": "drop", "CODETUNE_PROJECT": "p"}
    with pytest.raises(ValueError, match="must not be the upload bucket"):
        Settings.from_environment(env)
    regions = Settings.from_environment(
        {**env, "CODETUNE_STATE_BUCKET": "s", "CODETUNE_PIPELINE_REGION": "us-central1"}
    )
    assert regions.deployment == Deployment(("p",), ("us-central1",))


def test_validate_ignores_another_buckets_upload(storage: MemoryStorage) -> None:
    storage.put("elsewhere", "incoming/a.jsonl", dataset(generation_dataset(12)))
    obj = upload(storage, "incoming/a.jsonl", dataset(generation_dataset(12)))
    other = msgspec.structs.replace(obj, bucket="elsewhere")
    publisher = MemoryPublisher()
    assert (
        validate_upload(other, storage, publisher, SETTINGS, LOG, None, ENVIRON)
        is Validation.IGNORED
    )
    assert (
        publisher.messages == []
        and RecordStore.of(storage, SETTINGS).generations("incoming/a.jsonl") == []
    )


def test_the_eventarc_stand_in_watches_the_upload_bucket_only() -> None:
    trigger = EventarcStandIn("http://127.0.0.1:9/unused", bucket="drop")
    notification = {
        "message": {
            "attributes": {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": "drop-state",
                "objectId": "x",
            },
            "data": "e30=",
        }
    }
    assert trigger.post(msgspec.json.encode(notification), {}) == 204
    assert trigger.delivered == []


def test_a_validated_message_is_a_nudge_not_an_order(storage: MemoryStorage) -> None:
    """A message naming a version with no record in the state bucket is dropped."""
    forged = DatasetValidated.decode(
        *DatasetValidated(
            BUCKET,
            "incoming/never.jsonl",
            "1",
            "generation",
            "training",
            12,
            "",
            "ct",
            {},  # type: ignore[arg-type]
        ).encode()
    )
    vertex = FakeVertex()
    assert tune_dataset(forged, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.DROPPED
    assert vertex.creates == 0


def test_a_repeated_validation_keeps_the_first_copy(storage: MemoryStorage) -> None:
    """Storage events come at least once: validating the same version again neither replaces
    its pinned copy nor leaves the record naming another generation of it."""
    obj = upload(storage, "incoming/twice.jsonl", dataset(generation_dataset(12)))
    for _ in range(2):
        validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    records = store(storage)
    record = records.record(obj.name, obj.generation)
    copy = storage.current(STATE, records.pinned_name(obj.name, obj.generation))
    assert record is not None and copy is not None and record.pinned == copy.generation
    message = DatasetValidated(
        BUCKET,
        obj.name,
        obj.generation,
        "generation",
        "training",
        12,
        "",
        "ct",
        {},  # type: ignore[arg-type]
    )
    assert tune_dataset(message, storage, FakeVertex(), SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED


def test_a_created_job_named_outside_the_deployment_is_ambiguous_not_refused() -> None:
    """The job exists and bills whatever its name: the create stays claimed (a retry looks for
    it), never recorded as refused and forgotten."""
    from codetune.exceptions import RetryableVertexError
    from codetune.ports import JobRequest

    path = "/v1/projects/acme-ml/locations/us-central1/tuningJobs"
    recorder = Recorder({"name": "projects/999/locations/us-central1/tuningJobs/1"})
    with pytest.raises(RetryableVertexError, match="CODETUNE_PROJECT_NUMBER"):
        client(recorder).create_tuning_job(JobRequest("us-central1", path, {}))
    assert len(recorder.urls) == 1


@pytest.mark.parametrize(
    "path",
    [
        "@evil.example/v1/projects/acme-ml/locations/us-central1/tuningJobs",
        "/v1/projects/acme-ml/locations/us-central1/tuningJobs/../../x",
        "/v1/projects/acme-ml/locations/us-central1/models",
    ],
)
def test_a_request_path_is_exactly_a_job_collection(path: str) -> None:
    from codetune.ports import JobRequest

    recorder = Recorder()
    with pytest.raises(ForeignName):
        client(recorder).create_tuning_job(JobRequest("us-central1", path, {}))
    assert recorder.urls == []


def test_a_job_found_by_its_label_is_held_to_the_deployment_too() -> None:
    foreign = {"name": "projects/acme-ml/locations/attacker.example?/tuningJobs/1"}
    recorder = Recorder({"tuningJobs": [foreign]})
    with pytest.raises(ForeignName):
        client(recorder).find_tuning_jobs("acme-ml", "us-central1", ("codetune-request", "x"))


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8085", "http://localhost:9", "http://[::1]:7", "http://127.0.0.2"],
)
def test_a_stand_in_endpoint_on_this_machine_is_honoured(endpoint: str) -> None:
    environ = {"CODETUNE_VERTEX_ENDPOINT": endpoint}
    assert Settings.from_environment(environ).vertex.endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://vertex.example.com",
        "https://10.0.0.5:443",
        "http://127.0.0.1.example.com",
        "file:///127.0.0.1",
        "127.0.0.1:8085",
    ],
)
def test_a_stand_in_endpoint_elsewhere_is_refused(endpoint: str) -> None:
    """Requests to a stand-in carry no credentials and go in the clear: never off this machine."""
    from codetune.exceptions import SettingError

    with pytest.raises(SettingError, match="CODETUNE_VERTEX_ENDPOINT names a local stand-in"):
        Settings.from_environment({"CODETUNE_VERTEX_ENDPOINT": endpoint})
