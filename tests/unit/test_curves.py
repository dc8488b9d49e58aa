"""A tuning job's training metrics: read from its experiment the way Google's SDK reads one
(context, runs, the run's TensorBoard run, its time series, each series' data), only from the
deployment's project and regions, cut evenly to a few hundred points, into the record when the
job ends, and onto the run page beside the dataset."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import jsonschema
import msgspec
import orjson
import pytest
import requests

from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.deployment import Deployment
from codetune.local.discovery import json_schema
from codetune.local.vertex_standin import VertexStandIn
from codetune.state.records import Curves, Point, Record, Series, Stage
from codetune.tuning.backends import by_name
from codetune.tuning.curves import MAX_POINTS, READ_POINTS, downsample, read_experiment, series
from codetune.vertex import VertexClient, VertexConfig
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryStorage
from tests.unit.test_app import BUCKET, ENVIRON, LOG, SETTINGS, store, validated

PROJECT, REGION = "acme-ml", "us-central1"
JOB = f"projects/{PROJECT}/locations/{REGION}/tuningJobs/77"


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    server = VertexStandIn().start()
    yield server
    server.stop()


def client(standin: VertexStandIn, projects: tuple[str, ...] = (PROJECT,)) -> VertexClient:
    deployment = Deployment(projects=projects, regions=(REGION,))
    return VertexClient(VertexConfig(endpoint=standin.url, deployment=deployment, max_attempts=1))


def started(standin: VertexStandIn, steps: int = 50, validation: bool = True) -> str:
    spec = {"validationDatasetUri": "gs://b/v.jsonl"} if validation else {}
    experiment = standin.metrics.start({"name": JOB, "supervisedTuningSpec": spec}, steps)
    assert experiment is not None
    return experiment


def test_downsampling_keeps_first_and_last_and_spreads_evenly() -> None:
    points = [Point(step, float(step)) for step in range(1, 1001)]
    cut = downsample(points)
    assert len(cut) == MAX_POINTS and cut[0] == points[0] and cut[-1] == points[-1]
    gaps = {b.step - a.step for a, b in itertools.pairwise(cut)}
    assert gaps <= {3, 4}  # 999 steps over 299 gaps: evenly, within one
    assert downsample(points[:MAX_POINTS]) == tuple(points[:MAX_POINTS])  # short: untouched
    assert downsample(points, 2) == (points[0], points[-1])


def test_a_series_is_read_by_step_with_finite_values_only() -> None:
    answer = {
        "timeSeriesData": {
            "tensorboardTimeSeriesId": "1",
            "valueType": "SCALAR",
            "values": [
                {"step": "2", "scalar": {"value": 1.5}},
                {"step": "1", "scalar": {"value": 2.0}},
                {"step": "3", "scalar": {"value": "NaN"}},  # proto3 JSON's NaN
                {"step": "2", "scalar": {"value": 1.25}},  # a step written again: the last
            ],
        }
    }
    got = series("/train_total_loss", answer)
    assert got.points == (Point(1, 2.0), Point(2, 1.25)) and got.read == 4 and not got.capped
    full = {
        "timeSeriesData": {
            "values": [{"step": str(i), "scalar": {"value": 1}} for i in range(READ_POINTS)]
        }
    }
    capped = series("x", full)
    assert capped.capped and len(capped.points) == MAX_POINTS  # Vertex AI may have sampled


def test_the_experiment_is_read_as_the_sdk_reads_it(standin: VertexStandIn) -> None:
    experiment = started(standin, steps=50)
    curves = read_experiment(client(standin), experiment)
    names = [s.name for s in curves.series]
    assert names == [
        "/train_total_loss",
        "/train_fraction_of_correct_next_step_preds",
        "/eval_total_loss",
        "/eval_fraction_of_correct_next_step_preds",
    ]
    training, validation = curves.named("/train_total_loss"), curves.named("/eval_total_loss")
    assert training is not None and validation is not None
    assert len(training.points) == 50 and len(validation.points) == 10
    assert training.points[0].value > training.points[-1].value  # it learned
    assert curves.note is None and curves.missing == ()
    assert curves.console is not None and curves.console.startswith(
        "https://console.cloud.google.com/vertex-ai/experiments/locations/us-central1/"
    )
    asked = [path for method, path in standin.requests]
    assert asked[:4] == [
        f"/v1/{experiment}",
        f"/v1/projects/{PROJECT}/locations/{REGION}/metadataStores/default/contexts",
        f"/v1/projects/{PROJECT}/locations/{REGION}/metadataStores/default/artifacts/"
        "tuning-experiment-77-run-1-tb-run",
        f"/v1/projects/{PROJECT}/locations/{REGION}/tensorboards/77/experiments/"
        "tuning-experiment-77/runs/run-1/timeSeries",
    ]
    assert all(path.endswith(":read") for path in asked[4:]) and len(asked) == 8


def test_what_the_stand_in_answers_is_googles_format(standin: VertexStandIn) -> None:
    """Each answer held against the discovery document's response schema."""
    experiment = started(standin)
    metrics = standin.metrics
    schemas = {
        "GoogleCloudAiplatformV1Context": list(metrics.contexts.values()),
        "GoogleCloudAiplatformV1Artifact": list(metrics.artifacts.values()),
        "GoogleCloudAiplatformV1TensorboardTimeSeries": list(metrics.time_series.values()),
    }
    reader = client(standin)
    run = reader.list_experiment_runs(experiment)[0]
    listed = reader.list_time_series(
        "projects/acme-ml/locations/us-central1/tensorboards/77/experiments/tuning-experiment-77/runs/run-1"
    )
    schemas["GoogleCloudAiplatformV1ListContextsResponse"] = [{"contexts": [run]}]
    schemas["GoogleCloudAiplatformV1ReadTensorboardTimeSeriesDataResponse"] = [
        reader.read_time_series(listed[0]["name"], 10)
    ]
    for name, documents in schemas.items():
        validator = jsonschema.Draft202012Validator(json_schema("aiplatform", "v1", name))
        for document in documents:
            assert list(validator.iter_errors(document)) == [], name


def test_the_stand_in_refuses_what_the_method_does_not_take(standin: VertexStandIn) -> None:
    started(standin)
    series_name = next(iter(standin.metrics.time_series))

    base = f"{standin.url}/v1/{series_name}:read"
    assert requests.get(base, params={"maxDataPoints": "20000"}, timeout=5).status_code == 400
    assert requests.get(base, params={"pageSize": "5"}, timeout=5).status_code == 400
    sampled = requests.get(base, params={"maxDataPoints": "7"}, timeout=5).json()
    assert len(sampled["timeSeriesData"]["values"]) == 7  # past the ask: Google picks at random


def test_a_series_that_does_not_answer_is_named_and_the_rest_kept(standin: VertexStandIn) -> None:
    experiment = started(standin)
    standin.metrics.lose("/eval_total_loss")
    curves = read_experiment(client(standin), experiment)
    assert curves.missing == ("/eval_total_loss",)
    assert curves.note is not None and "/eval_total_loss" in curves.note
    assert (
        curves.named("/train_total_loss") is not None and curves.named("/eval_total_loss") is None
    )


def test_an_experiment_of_another_project_is_never_asked_for(standin: VertexStandIn) -> None:
    experiment = started(standin)
    curves = read_experiment(client(standin, projects=("other-project",)), experiment)
    assert curves.series == () and curves.note is not None and curves.note.startswith("refused")
    assert standin.requests == [] and curves.console is None


def test_a_tensorboard_run_named_outside_the_deployment_is_not_read(
    standin: VertexStandIn,
) -> None:
    experiment = started(standin)
    [artifact] = standin.metrics.artifacts.values()
    artifact["metadata"]["resourceName"] = (
        "projects/evil-proj/locations/us-central1/tensorboards/1/experiments/x/runs/y"
    )
    curves = read_experiment(client(standin), experiment)
    assert curves.note is not None and "refused" in curves.note and curves.series == ()
    assert not any("timeSeries" in path for _, path in standin.requests)


def test_a_job_without_an_experiment_says_so() -> None:
    curves = by_name("gemini").curves(FakeVertex(), {"name": JOB, "state": "JOB_STATE_SUCCEEDED"})
    assert curves.series == () and curves.note == "the job names no experiment: no metrics to read"
    assert curves.console is not None and "/tuning/tuningJob/77?project=acme-ml" in curves.console


def test_curves_round_trip_in_the_record_compactly() -> None:
    points = tuple(Point(step, 2.0 / step) for step in range(1, MAX_POINTS + 1))
    curves = Curves(
        "2026-12-01T00:00:00+00:00",
        "projects/p/locations/l/metadataStores/default/contexts/e",
        series=tuple(Series(f"/s{i}", points, 1000) for i in range(6)),
    )
    record = Record.first(Stage.SUCCEEDED, "sweep", curves=curves)
    stored = orjson.loads(orjson.dumps(record.to_json()))
    assert stored["curves"]["series"][0]["points"][0] == [1, 2.0]  # [step, value]
    assert Record.from_json(stored) == record
    assert len(orjson.dumps(stored)) < 64_000  # six series of 300 points stay small
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"read": "x", "series": [{"name": "a", "points": [["1", 2]]}]}, Curves)


class MetricsVertex(FakeVertex):
    """The fake jobs, with the metrics read from the stand-in by the real client."""

    def __init__(self, reader: VertexClient) -> None:
        super().__init__()
        self.reader = reader
        self.reads = 0

    def get_metadata(self, name: str, kind: str) -> dict[str, Any]:
        self.reads += 1
        return self.reader.get_metadata(name, kind)

    def list_experiment_runs(self, experiment: str) -> list[dict[str, Any]]:
        return self.reader.list_experiment_runs(experiment)

    def list_time_series(self, run: str) -> list[dict[str, Any]]:
        return self.reader.list_time_series(run)

    def read_time_series(self, name: str, max_points: int) -> dict[str, Any]:
        return self.reader.read_time_series(name, max_points)


def test_the_sweep_records_the_curves_once_and_writes_the_run_page(
    standin: VertexStandIn,
) -> None:
    storage = MemoryStorage()
    message = validated(storage, "incoming/p.jsonl", dataset(generation_dataset(12)))
    vertex = MetricsVertex(client(standin))
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [name] = vertex.jobs
    experiment = standin.metrics.start({"name": name, "supervisedTuningSpec": {}}, 30)
    vertex.finish(
        name,
        "JOB_STATE_SUCCEEDED",
        experiment=experiment,
        tunedModel={"model": f"projects/{PROJECT}/locations/{REGION}/models/9@1"},
    )
    sweep(store(storage), vertex, LOG)
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.state is Stage.SUCCEEDED and record.curves is not None
    training = record.curves.named("/train_total_loss")
    assert training is not None and len(training.points) == 30
    page = storage.read_bytes(BUCKET, "incoming/p.jsonl.run.html")
    assert page is not None and b"chart-loss" in page
    assert b"plus the argument" not in page and b"def add_" not in page  # no dataset text
    reads = vertex.reads
    sweep(store(storage), vertex, LOG)  # nothing open: nothing read again
    from codetune.app.status import record_outcome

    pointer = store(storage).pointer(name.rpartition("/")[2])
    assert pointer is not None
    record_outcome(pointer, store(storage), vertex, "status", LOG)  # a repeated event
    assert vertex.reads == reads
