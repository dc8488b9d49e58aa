"""A tuning job's training metrics, read the way Google's SDK reads an experiment's
(docs/curves.md), and cut to a few hundred points a series.

TuningJob.experiment names a Vertex AI Experiment (a metadata context). Its runs are the
contexts whose parent it is; each run's metrics live in the TensorBoard run that the metadata
artifact `<run id>-tb-run` names (`metadata.resourceName`); that run's time series are listed
and each is read with `timeSeries.read`. Nothing here raises for a metric: what cannot be read
becomes the note of the Curves, and the job's end is recorded all the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from codetune.exceptions import NOT_FOUND, ForeignName, PermanentVertexError, VertexError
from codetune.state.records import Curves, Point, Series

MAX_POINTS = 300  # kept a series, in the record and on the page
# Asked of timeSeries.read: its documented ceiling ("can't be greater than 10k"); past its
# default of 1,000 it would pick points at random.
READ_POINTS = 10_000
MAX_RUNS = 5  # a tuning job's experiment has one run; more are read up to this many
EXPERIMENT = "system.Experiment"  # the SDK's schema titles (aiplatform.metadata.constants)
TB_RUN_SUFFIX = "-tb-run"  # the SDK's id of a run's TensorBoard-run artifact
# The loss curves by the names Google's tuning page gives the metrics (rules.md S-24).
TRAINING_LOSS = "/train_total_loss"
VALIDATION_LOSS = "/eval_total_loss"


class MetricsReader(Protocol):
    """What reading the metrics asks of Vertex AI (codetune.vertex)."""

    def get_metadata(self, name: str, kind: str) -> dict[str, Any]: ...

    def list_experiment_runs(self, experiment: str) -> list[dict[str, Any]]: ...

    def list_time_series(self, run: str) -> list[dict[str, Any]]: ...

    def read_time_series(self, name: str, max_points: int) -> dict[str, Any]: ...


class _Scalar(msgspec.Struct):
    value: float | str | None = None  # proto3 JSON writes NaN and Infinity as strings


class _DataPoint(msgspec.Struct):
    step: int = 0  # int64: a string in JSON
    scalar: _Scalar | None = None


class _TimeSeriesData(msgspec.Struct, rename="camel"):
    tensorboard_time_series_id: str = ""
    value_type: str = ""
    values: list[_DataPoint] = []


class _ReadResponse(msgspec.Struct, rename="camel"):
    time_series_data: _TimeSeriesData | None = None


def downsample(points: Sequence[Point], limit: int = MAX_POINTS) -> tuple[Point, ...]:
    """At most `limit` points spread evenly over the steps, the first and the last kept."""
    if len(points) <= limit:
        return tuple(points)
    if limit < 2:
        return tuple(points[-limit:]) if limit else ()
    last = len(points) - 1
    return tuple(points[round(i * last / (limit - 1))] for i in range(limit))


def series(name: str, answer: Mapping[str, Any], limit: int = MAX_POINTS) -> Series:
    """One time series' answer (ReadTensorboardTimeSeriesDataResponse) as a Series: by step,
    one point a step (the last written), finite values only, cut to `limit`."""
    data = msgspec.convert(answer, _ReadResponse, strict=False).time_series_data
    values = data.values if data is not None else []
    by_step: dict[int, float] = {}
    for point in values:
        value = point.scalar.value if point.scalar is not None else None
        if isinstance(value, int | float) and math.isfinite(value):
            by_step[point.step] = float(value)
    points = [Point(step, by_step[step]) for step in sorted(by_step)]
    return Series(name, downsample(points, limit), len(values), len(values) >= READ_POINTS)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def read_experiment(
    reader: MetricsReader, experiment: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Curves:
    """Every scalar series of the experiment's runs; a note for what could not be read."""
    read = now().isoformat()
    found = Curves(read, experiment[:300])
    try:
        context = reader.get_metadata(experiment, "metadata context")  # the name checked first
        found = msgspec.structs.replace(found, console=experiment_console(experiment))
        if context.get("schemaTitle") != EXPERIMENT:
            title = str(context.get("schemaTitle"))[:60]
            return msgspec.structs.replace(found, note=f"not an experiment ({title})")
        runs = reader.list_experiment_runs(experiment)
        if not runs:
            return msgspec.structs.replace(found, note="the experiment has no run")
        collected: list[Series] = []
        missing: list[str] = []
        for run in runs[:MAX_RUNS]:
            prefix = _run_label(run) + ":" if len(runs) > 1 else ""
            for got in _run_series(reader, run, missing, prefix):
                collected.append(got)
    except ForeignName as fault:
        return msgspec.structs.replace(found, note=f"refused: {fault}")
    except VertexError as fault:
        return msgspec.structs.replace(found, note=f"could not be read: {fault}"[:500])
    except msgspec.ValidationError as fault:
        return msgspec.structs.replace(found, note=f"an answer not in Google's format: {fault}")
    note = None
    if missing:
        note = f"{len(missing)} series listed but not answered: {', '.join(missing)}"[:500]
    elif not collected:
        note = "the experiment's runs hold no scalar series"
    return msgspec.structs.replace(
        found, series=tuple(collected), missing=tuple(missing), note=note
    )


def _run_series(
    reader: MetricsReader, run: Mapping[str, Any], missing: list[str], prefix: str
) -> list[Series]:
    """A run's scalar series, through its TensorBoard run."""
    store, _, run_id = str(run.get("name") or "").rpartition("/contexts/")
    try:
        artifact = reader.get_metadata(
            f"{store}/artifacts/{run_id}{TB_RUN_SUFFIX}", "metadata artifact"
        )
    except PermanentVertexError as fault:
        if fault.status == NOT_FOUND:
            return []  # a run with no TensorBoard run: no time series
        raise
    tensorboard_run = (artifact.get("metadata") or {}).get("resourceName")
    out: list[Series] = []
    for listed in reader.list_time_series(str(tensorboard_run)):
        if listed.get("valueType") != "SCALAR":
            continue
        name = prefix + str(listed.get("displayName") or listed.get("name", "?"))[:200]
        try:
            out.append(series(name, reader.read_time_series(str(listed.get("name")), READ_POINTS)))
        except PermanentVertexError as fault:
            if fault.status != NOT_FOUND:
                raise
            missing.append(name)
    return out


def _run_label(run: Mapping[str, Any]) -> str:
    return str(run.get("displayName") or str(run.get("name", "?")).rpartition("/")[2])[:60]


def experiment_console(experiment: str) -> str | None:
    """The experiment's page in the Google Cloud console (the SDK's Experiment.dashboard_url)."""
    parts = experiment.split("/")
    if len(parts) != 8:
        return None
    return (
        f"https://console.cloud.google.com/vertex-ai/experiments/locations/{parts[3]}"
        f"/experiments/{parts[7]}?project={parts[1]}"
    )


def job_console(job_name: str) -> str | None:
    """A tuning job's or a pipeline run's page in the console (the SDK's dashboard URLs)."""
    parts = job_name.split("/")
    if len(parts) != 6:
        return None
    project, location, collection, job = parts[1], parts[3], parts[4], parts[5]
    if collection == "tuningJobs":
        return (
            "https://console.cloud.google.com/vertex-ai/generative/language/locations/"
            f"{location}/tuning/tuningJob/{job}?project={project}"
        )
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{location}/pipelines/runs/{job}"
        f"?project={project}"
    )
