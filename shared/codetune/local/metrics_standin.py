"""The Vertex AI stand-in's training metrics: each Gemini tuning job's experiment, as Google's
SDK finds and reads it (docs/curves.md), with a loss that falls step by step.

Served (aiplatform v1, GET only, every query parameter held to the method's parameters in the
discovery document):

- `metadataStores/S/contexts/C`: the experiment (`system.Experiment`) or its run
  (`system.ExperimentRun`);
- `metadataStores/S/contexts?filter=schema_title="system.ExperimentRun" AND
  parent_contexts:"EXPERIMENT"`: the experiment's runs (the one filter the SDK sends);
- `metadataStores/S/artifacts/A`: the run's `<run>-tb-run` artifact naming its TensorBoard run;
- `tensorboards/T/experiments/X/runs/R/timeSeries`: the run's scalar series;
- `.../timeSeries/S:read?maxDataPoints=N`: its points, all when there are at most N (default
  1,000; at most 10,000), otherwise N picked at random, as the method's description says.

The data is deterministic: one point a tuning step (`tuningStepCount`), a validation point every
tenth of the steps when the job has a validation dataset. Faults: `lose(name)` makes the series
of that display name answer 404 when read; `without_experiment()` makes the next job name none.
"""

from __future__ import annotations

import math
import random
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from codetune.local.discovery import discovery_document

_P = r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
ROUTES = {
    "contexts.get": re.compile(rf"^/v1/(?P<name>{_P}/metadataStores/[^/]+/contexts/[^/:]+)$"),
    "contexts.list": re.compile(rf"^/v1/(?P<parent>{_P}/metadataStores/[^/]+)/contexts$"),
    "artifacts.get": re.compile(rf"^/v1/(?P<name>{_P}/metadataStores/[^/]+/artifacts/[^/:]+)$"),
    "timeSeries.list": re.compile(
        rf"^/v1/(?P<parent>{_P}/tensorboards/[^/]+/experiments/[^/]+/runs/[^/]+)/timeSeries$"
    ),
    "timeSeries.read": re.compile(
        rf"^/v1/(?P<name>{_P}/tensorboards/[^/]+/experiments/[^/]+/runs/[^/]+/timeSeries/[^/:]+):read$"
    ),
}
# The discovery document's methods behind each route: their query parameters are the only ones
# taken.
_METHODS = {
    "contexts.get": ("metadataStores", "contexts", "get"),
    "contexts.list": ("metadataStores", "contexts", "list"),
    "artifacts.get": ("metadataStores", "artifacts", "get"),
    "timeSeries.list": ("tensorboards", "experiments", "runs", "timeSeries", "list"),
    "timeSeries.read": ("tensorboards", "experiments", "runs", "timeSeries", "read"),
}
TRAINING = ("/train_total_loss", "/train_fraction_of_correct_next_step_preds")
VALIDATION = ("/eval_total_loss", "/eval_fraction_of_correct_next_step_preds")
READ_DEFAULT, READ_CEILING = 1000, 10_000


def _query_parameters(route: str) -> dict[str, dict[str, Any]]:
    node: dict[str, Any] = discovery_document("aiplatform", "v1")["resources"]["projects"]
    node = node["resources"]["locations"]
    *path, method = _METHODS[route]
    for part in path:
        node = node["resources"][part]
    parameters: dict[str, dict[str, Any]] = node["methods"][method]["parameters"]
    return {k: v for k, v in parameters.items() if v.get("location") == "query"}


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class ExperimentMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contexts: dict[str, dict[str, Any]] = {}
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.time_series: dict[str, dict[str, Any]] = {}  # name -> resource
        self.points: dict[str, list[dict[str, Any]]] = {}  # time series name -> its data
        self.lost: set[str] = set()  # display names whose read answers 404
        self._no_experiment = 0
        self._parameters = {route: _query_parameters(route) for route in ROUTES}

    # --- control -------------------------------------------------------------------------
    def lose(self, display_name: str) -> None:
        """Reads of this series answer 404 NOT_FOUND, as for a series deleted meanwhile."""
        with self._lock:
            self.lost.add(display_name)

    def without_experiment(self) -> None:
        """The next job started names no experiment."""
        with self._lock:
            self._no_experiment += 1

    def start(self, job: dict[str, Any], steps: int) -> str | None:
        """The experiment of a job that starts running, with every point it will log; None
        when told so by `without_experiment`."""
        with self._lock:
            if self._no_experiment:
                self._no_experiment -= 1
                return None
            project, _, location, _, job_id = job["name"].split("/")[1:6]
            spec = job.get("supervisedTuningSpec") or {}
            self._register(project, location, job_id, steps, bool(spec.get("validationDatasetUri")))
        return f"projects/{project}/locations/{location}/metadataStores/default/contexts/tuning-experiment-{job_id}"

    def _register(
        self, project: str, location: str, job_id: str, steps: int, validation: bool
    ) -> None:
        parent = f"projects/{project}/locations/{location}"
        store = f"{parent}/metadataStores/default"
        experiment = f"tuning-experiment-{job_id}"
        run = f"{experiment}-run-1"
        tensorboard_run = f"{parent}/tensorboards/{job_id}/experiments/{experiment}/runs/run-1"
        made = _stamp(datetime.now(UTC))
        common = {"schemaVersion": "0.0.1", "createTime": made, "updateTime": made}
        self.contexts[f"{store}/contexts/{experiment}"] = {
            **common,
            "name": f"{store}/contexts/{experiment}",
            "displayName": experiment,
            "schemaTitle": "system.Experiment",
            "metadata": {"backing_tensorboard_resource": f"{parent}/tensorboards/{job_id}"},
        }
        self.contexts[f"{store}/contexts/{run}"] = {
            **common,
            "name": f"{store}/contexts/{run}",
            "displayName": "run-1",
            "schemaTitle": "system.ExperimentRun",
            "parentContexts": [f"{store}/contexts/{experiment}"],
            "metadata": {"_state": "COMPLETE"},
        }
        self.artifacts[f"{store}/artifacts/{run}-tb-run"] = {
            **common,
            "name": f"{store}/artifacts/{run}-tb-run",
            "schemaTitle": "google.VertexTensorboardRun",
            "state": "LIVE",
            "metadata": {"resourceName": tensorboard_run, "vertex_experiment_tracking": True},
        }
        names = TRAINING + (VALIDATION if validation else ())
        for number, display in enumerate(names, start=1):
            name = f"{tensorboard_run}/timeSeries/{number}"
            self.time_series[name] = {
                "createTime": made,
                "updateTime": made,
                "name": name,
                "displayName": display,
                "valueType": "SCALAR",
                "pluginName": "scalars",
            }
            every = 1 if display in TRAINING else max(1, steps // 10)
            self.points[name] = [
                _point(display, step, steps) for step in range(every, steps + 1, every)
            ]

    # --- the API -------------------------------------------------------------------------
    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
        """The answer to a GET of one of ROUTES; None for any other path."""
        for route, pattern in ROUTES.items():
            found = pattern.match(path)
            if found is None:
                continue
            unknown = sorted(set(query) - set(self._parameters[route]))
            if unknown:
                return _error(400, f"Invalid JSON payload received. Unknown name {unknown[0]!r}")
            handler = {
                "contexts.get": self._get_context,
                "contexts.list": self._list_contexts,
                "artifacts.get": self._get_artifact,
                "timeSeries.list": self._list_time_series,
                "timeSeries.read": self._read_time_series,
            }[route]
            with self._lock:
                return handler(found, query)
        return None

    def _get_context(self, found: re.Match[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        context = self.contexts.get(found["name"])
        return (200, context) if context else _error(404, f"Context {found['name']} not found")

    def _list_contexts(self, found: re.Match[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        wanted = (query.get("filter") or [""])[0]
        match = re.fullmatch(
            r'schema_title="system\.ExperimentRun" AND parent_contexts:"([^"]+)"', wanted
        )
        if match is None:
            return _error(400, f"the stand-in takes only the SDK's run filter, not {wanted!r}")
        runs = [
            c
            for name, c in sorted(self.contexts.items())
            if name.startswith(found["parent"] + "/") and match[1] in c.get("parentContexts", [])
        ]
        return 200, {"contexts": runs}

    def _get_artifact(self, found: re.Match[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        artifact = self.artifacts.get(found["name"])
        return (200, artifact) if artifact else _error(404, f"Artifact {found['name']} not found")

    def _list_time_series(
        self, found: re.Match[str], query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        prefix = found["parent"] + "/timeSeries/"
        listed = [s for name, s in sorted(self.time_series.items()) if name.startswith(prefix)]
        return 200, {"tensorboardTimeSeries": listed}

    def _read_time_series(
        self, found: re.Match[str], query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        name = found["name"]
        series = self.time_series.get(name)
        if series is None or series["displayName"] in self.lost:
            return _error(404, f"TensorboardTimeSeries {name} not found")
        asked = (query.get("maxDataPoints") or [str(READ_DEFAULT)])[0]
        if not re.fullmatch(r"-?\d+", asked) or not (
            int(asked) == -1 or 0 < int(asked) <= READ_CEILING
        ):
            return _error(400, f"maxDataPoints {asked!r}: a positive integer up to 10000, or -1")
        limit = int(asked)
        points = self.points[name]
        if 0 < limit < len(points):  # "randomly selected", as the method's description says
            picked = random.Random(name).sample(range(len(points)), limit)
            points = [points[i] for i in sorted(picked)]
        return 200, {
            "timeSeriesData": {
                "tensorboardTimeSeriesId": name.rpartition("/")[2],
                "valueType": "SCALAR",
                "values": points,
            }
        }


def _point(display: str, step: int, steps: int) -> dict[str, Any]:
    """One logged value: the loss falls with the steps (validation a little above training),
    the share of right next-token predictions rises."""
    share = step / max(1, steps)
    loss = 2.4 * math.exp(-3.0 * share) + 0.35 + 0.04 * math.sin(step * 1.3) * (1 - share)
    if display.startswith("/eval"):
        loss = 2.5 * math.exp(-2.6 * share) + 0.45
    value = loss if display.endswith("loss") else max(0.0, min(1.0, 1.0 - loss / 3.0))
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=step * 6)
    return {"step": str(step), "wallTime": _stamp(moment), "scalar": {"value": round(value, 6)}}


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}
    return status, {"error": {"code": status, "message": message, "status": names[status]}}
