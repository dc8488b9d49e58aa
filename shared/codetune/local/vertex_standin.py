"""A local stand-in for Vertex AI pipeline jobs, faithful where the project depends on it.

Google offers no Vertex AI emulator. This one serves, over HTTP like the real v1 REST API:

- `POST /v1/projects/P/locations/L/pipelineJobs?pipelineJobId=ID`: checks the body against the
  official `GoogleCloudAiplatformV1PipelineJob` schema (aiplatform v1 discovery document) and
  the id against `^[a-z][-a-z0-9]{0,127}$`, answers 400 INVALID_ARGUMENT with the reasons,
  409 ALREADY_EXISTS for a known id, or 200 with the new job;
- `GET /v1/projects/P/locations/L/pipelineJobs/ID`: the job, 404 NOT_FOUND if unknown;
- `GET /v1/projects/P/locations/L/models[?filter=labels.KEY=VALUE]`: the models it "uploaded";
- a running Gemini tuning job's `experiment`, its runs and their TensorBoard time series
  (metrics_standin.py), as Google's SDK reads them;
- `POST|GET /v1/projects/P/locations/L/tuningJobs[/ID]`: Gemini supervised tuning jobs,
  checked against `GoogleCloudAiplatformV1TuningJob`; a job whose converted dataset is missing
  or not in Gemini's format fails, as on Vertex AI; a job that succeeds carries
  `tunedModel.model` and `tunedModel.endpoint` (a Gemini 3 model's endpoint in the multi-region
  of the job's region, where Vertex AI serves tuned Gemini 3 models; the model stays in the
  job's region, where the registry lists it). Tuning jobs publish no state events (the sweep
  function reads them). `GET /v1beta1/...` reads them as v1beta1 does, with progress;
- `tuningJobs.list` (v1 and v1beta1): the query parameters the discovery document names and
  no other (`filter`, `pageSize`, `pageToken`), the filter in the one form Google documents,
  `labels.KEY="VALUE"` (quotes optional; anything else is refused with 400, so codetune never
  comes to rely on a form Google does not document), pages of at most LIST_PAGE_SIZE jobs (a
  larger `pageSize` is cut to it, as Google's list methods do) with an opaque `nextPageToken`
  that only the same request takes;
- `POST .../publishers/google/models/M:generateContent` and `.../endpoints/E:generateContent`:
  answers of the base models and of the tuned models' endpoints (generate_standin.py).

A created job moves PENDING → RUNNING → SUCCEEDED (or FAILED, when told) on a timer. When it
succeeds it carries a `jobDetail` whose `upload-llm-model` task holds
`output:model_resource_name`, and the model appears in the registry with the
`google-vertex-llm-tuning-base-model-id` label. Every state change is published to the
job-events topic as the Cloud Logging LogEntry a log sink would export.

Faults, as the real service shows them: `inject_faults` makes the next requests answer an error
before doing anything (429, 503, or a 409 whose status is ABORTED); `fail_after_commit` makes
the next create do its work and then answer an error or drop the connection unanswered (what a
timeout looks like to the caller); `vanish` deletes a job as if it had never been;
`fail_next_job` fails the next job created.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import orjson

from codetune.dataset import gemini_format
from codetune.local.discovery import json_schema
from codetune.local.generate_standin import GenerateContent, GenerateFaults
from codetune.local.metrics_standin import ExperimentMetrics
from codetune.pipeline.models import BASE_MODEL_LABEL, BASE_MODELS
from codetune.serving import multi_region_of, served_from_multi_regions
from codetune.tuning.common import JOB_ID_PATTERN

JOB_EVENTS_LOG = "aiplatform.googleapis.com%2Fpipeline_job_events"
# Google drops a training example over the model's tokens per example and reports it in
# tuningDataStats (the TuningJob resource); 131,072 for the tunable Gemini models. The reason text is the
# stand-in's own (Google's wording is not documented).
MAX_TOKENS_PER_EXAMPLE = 131_072
DROPPED_REASON = "The example has more tokens than the model takes per example."
# One line of Gemini tuning data, as Google documents it: the JSON Schema of the format's one
# description (codetune.dataset.gemini_format, written from Google's pages; schemas/ holds it).
GEMINI_EXAMPLE = jsonschema.Draft202012Validator(gemini_format.json_schema())
_JOBS = re.compile(r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/pipelineJobs$")
_JOB = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/pipelineJobs/(?P<id>[^/]+)$"
)
_TUNING_JOBS = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/tuningJobs$"
)
_TUNING_JOB = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/tuningJobs/(?P<id>[^/]+)$"
)
# v1beta1's TuningJob: v1's, with the progress of a running job (tuningJobState,
# tuningJobMetadata.completedEpochCount), which only this version carries.
_BETA_TUNING_JOB = re.compile(
    r"^/v1beta1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/tuningJobs/(?P<id>[^/]+)$"
)
_LIST_TUNING_JOBS = re.compile(
    r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/tuningJobs$"
)
# The stand-in's own page size: Google documents none for tuningJobs.list.
LIST_PAGE_SIZE = 100
# tuningJobs.cancel and pipelineJobs.cancel (aiplatform v1: POST {name}:cancel, an empty body).
_CANCEL = re.compile(
    r"^/v1/(?P<name>projects/[^/]+/locations/[^/]+/(?P<collection>tuningJobs|pipelineJobs)/[^/:]+):cancel$"
)
_MODELS = re.compile(r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/models$")
NO_ANSWER = 0  # a fault that closes the connection without an answer
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class VertexStandIn:
    def __init__(
        self,
        publish: Callable[[dict[str, Any]], None] | None = None,
        step_seconds: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        quota: int = 0,
        quota_mode: str = "refuse",
        generate_faults: GenerateFaults | None = None,
    ) -> None:
        """`publish` receives each LogEntry (the stack publishes it to the job-events topic).
        `quota`: concurrent tuning jobs (0: no limit); past it a create is refused with 429
        RESOURCE_EXHAUSTED (`quota_mode` "refuse"), or its job runs WAITING_FOR_QUOTA until a
        slot frees ("wait"): Vertex AI does either. `generate_faults`: what goes wrong with
        generateContent (generate_standin.py)."""
        self.publish = publish
        self.step_seconds = step_seconds
        if quota_mode not in ("refuse", "wait"):
            raise ValueError(f"quota_mode is 'refuse' or 'wait', not {quota_mode!r}")
        self.quota, self.quota_mode = quota, quota_mode
        self._queued: dict[str, str | None] = {}  # jobs waiting for quota -> their failure
        self.quota_refusals = 0  # creates refused with 429 for the quota
        self.most_tuning = 0  # the most tuning jobs that ever trained at once
        self.jobs: dict[str, dict[str, Any]] = {}
        self._stats: dict[str, dict[str, Any] | None] = {}  # tuning job -> its tuningDataStats
        self.models: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path): what was asked, in order
        self.log_entries: list[dict[str, Any]] = []
        self._faults: list[tuple[int, str | None]] = []
        self._fault_method: str | None = None  # only requests of this method get the faults
        self._after_commit: list[int] = []
        self.vanished: dict[str, dict[str, Any]] = {}  # jobs deleted by `vanish`, as they were
        self.cancelled: list[str] = []  # the jobs a cancel was accepted for, in order
        self._fail_next: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1_000_000_001)
        self._timers: list[threading.Timer] = []
        self._schema = jsonschema.Draft202012Validator(
            json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1PipelineJob", request=True)
        )
        self._tuning_schema = jsonschema.Draft202012Validator(
            json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1TuningJob", request=True)
        )
        self._cancel_schemas = {
            collection: jsonschema.Draft202012Validator(
                json_schema("aiplatform", "v1", f"GoogleCloudAiplatformV1Cancel{kind}JobRequest")
            )
            for collection, kind in (("tuningJobs", "Tuning"), ("pipelineJobs", "Pipeline"))
        }
        self.read_dataset: Callable[[str], bytes | None] | None = None  # gs:// URI -> its bytes
        self.metrics = ExperimentMetrics()  # each Gemini job's experiment (metrics_standin.py)
        self.generate = GenerateContent(self._read, generate_faults)  # generate_standin.py
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )  # stopped within 0.05 s

    # --- control -----------------------------------------------------------------------------
    def start(self) -> VertexStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.server.shutdown()
        self.server.server_close()

    def inject_faults(self, *statuses: int | tuple[int, str], method: str | None = None) -> None:
        """Answer the next requests (of `method`, if given) with these statuses, one each, before
        doing anything. A status is a code (its usual Google status) or (code, status), e.g.
        (409, "ABORTED")."""
        with self._lock:
            self._faults.extend((s, None) if isinstance(s, int) else (s[0], s[1]) for s in statuses)
            self._fault_method = method

    def fail_after_commit(self, *statuses: int) -> None:
        """The next creates (one each) make their job, then answer this 5xx status, or for
        NO_ANSWER close the connection unanswered: the caller cannot tell whether it worked."""
        with self._lock:
            self._after_commit.extend(statuses)

    def vanish(self, name: str) -> bool:
        """Delete the job as if it had never existed (GET answers 404); False if unknown."""
        with self._lock:
            job = self.jobs.pop(name, None)
            if job is not None:
                self.vanished[name] = job
        self._start_queued()
        return job is not None

    def pending_faults(self) -> int:
        """Injected faults not answered yet."""
        with self._lock:
            return len(self._faults)

    def fail_next_job(self, message: str) -> None:
        """The next job created fails, with this error message."""
        with self._lock:
            self._fail_next.append(message)

    def _read(self, uri: str) -> bytes | None:
        return self.read_dataset(uri) if self.read_dataset is not None else None

    # --- the API -----------------------------------------------------------------------------
    def _create(
        self, project: str, location: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Any]:
        job_id = (query.get("pipelineJobId") or [""])[0] or f"job-{next(self._ids)}"
        body, problems = _read_body(raw, self._schema)
        if body is None:
            return _error(400, problems[0])
        if not JOB_ID_PATTERN.match(job_id):
            problems.append(f"pipelineJobId {job_id!r} does not match {JOB_ID_PATTERN.pattern}")
        if not isinstance(body, dict) or not (body.get("runtimeConfig") or {}).get(
            "gcsOutputDirectory"
        ):
            problems.append("runtimeConfig.gcsOutputDirectory is required")
        if problems:
            return _error(400, "Invalid PipelineJob: " + "; ".join(problems[:10]))
        name = f"projects/{project}/locations/{location}/pipelineJobs/{job_id}"
        with self._lock:
            if name in self.jobs:
                return _error(409, f"PipelineJob {name} already exists")
            fails = self._fail_next.pop(0) if self._fail_next else None
            job = self._register(name, body, "PIPELINE_STATE_PENDING")
        self._emit(job)
        self._later(1, name, "PIPELINE_STATE_RUNNING", None)
        self._later(
            2, name, "PIPELINE_STATE_FAILED" if fails else "PIPELINE_STATE_SUCCEEDED", fails
        )
        return self._committed(job)

    def _committed(self, job: dict[str, Any]) -> tuple[int, Any]:
        """The answer to a create that made `job`: the job, or an injected after-commit fault."""
        with self._lock:
            fault = self._after_commit.pop(0) if self._after_commit else None
        if fault is None:
            return 200, job
        return _error(fault, "injected fault after the job was created")

    def _register(self, name: str, body: dict[str, Any], state: str) -> dict[str, Any]:
        """The new job as the API answers it (call with the lock held)."""
        job = {**body, "name": name, "state": state, "createTime": now(), "updateTime": now()}
        self.jobs[name] = job
        return job

    def _later(self, steps: int, name: str, state: str, failure: str | None) -> None:
        timer = threading.Timer(self.step_seconds * steps, self._move, (name, state, failure))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _cancel(self, name: str, collection: str, raw: bytes) -> tuple[int, Any]:
        """A cancel, as Vertex AI answers it: the job goes CANCELLING now and CANCELLED a step
        later; a job that has ended cannot be cancelled (FAILED_PRECONDITION)."""
        kind = "TuningJob" if collection == "tuningJobs" else "PipelineJob"
        body, problems = _read_body(raw or b"{}", self._cancel_schemas[collection])
        if problems or body != {}:
            return _error(400, f"Cancel{kind}Request takes no fields: {problems or body}")
        prefix = "JOB_STATE" if collection == "tuningJobs" else "PIPELINE_STATE"
        with self._lock:
            job = self.jobs.get(name)
            if job is None:
                return _error(404, f"{kind} {name} not found")
            if job["state"].removeprefix(prefix + "_") in _ENDED:
                return _error(
                    400,
                    f"{kind} {name} is in state {job['state']} and cannot be cancelled",
                    "FAILED_PRECONDITION",
                )
            self.cancelled.append(name)
        self._move(name, f"{prefix}_CANCELLING", None)
        self._later(1, name, f"{prefix}_CANCELLED", None)
        return 200, {}

    def _move(self, name: str, state: str, failure: str | None) -> None:
        with self._lock:
            job = self.jobs.get(name)
            stopping = job is not None and job["state"].endswith(("_CANCELLING", "_CANCELLED"))
            if stopping and not state.endswith("_CANCELLED"):
                return  # a cancelled job goes nowhere else
            if job is not None and state.endswith(("_CANCELLING", "_CANCELLED")):
                job.update(state=state, updateTime=now())
                if state.endswith("_CANCELLED"):
                    job.update(
                        endTime=now(), error={"code": 1, "message": "The job was cancelled."}
                    )
        if job is not None and state.endswith(("_CANCELLING", "_CANCELLED")):
            if "/pipelineJobs/" in name:
                self._emit(job)
            self._start_queued()
            return
        if "/tuningJobs/" in name:
            self._move_tuning(name, state, failure)
            self._start_queued()
            return
        with self._lock:
            job = self.jobs.get(name)
            if job is None:
                return  # vanished
            job.update(state=state, updateTime=now())
            if state == "PIPELINE_STATE_RUNNING":
                job["startTime"] = now()
                job["jobDetail"] = {
                    "taskDetails": [
                        _task("tune-large-model", "RUNNING", {}),
                        _task("upload-llm-model", "PENDING", {}, "system.ContainerExecution"),
                    ]
                }
            if state == "PIPELINE_STATE_SUCCEEDED":
                job["endTime"] = now()
                job["jobDetail"] = self._finish(job)
            if state == "PIPELINE_STATE_FAILED":
                job["endTime"] = now()
                job["error"] = {"code": 9, "message": failure or "The pipeline failed."}
                job["jobDetail"] = {"taskDetails": [_task("tune-large-model", "FAILED", {})]}
        self._emit(job)

    def _move_tuning(self, name: str, state: str, failure: str | None) -> None:
        """Tuning jobs change state silently: no log entry a sink could route (see functions/sweep.py)."""
        with self._lock:
            job = self.jobs.get(name)
            if job is None:
                return  # vanished
            job.update(state=state, updateTime=now())
            if state == "JOB_STATE_RUNNING":
                job["startTime"] = now()
                steps = int((self._stats.get(name) or {}).get("tuningStepCount") or 40)
                if experiment := self.metrics.start(job, steps):
                    job["experiment"] = experiment
            elif state == "JOB_STATE_FAILED":
                job.update(
                    endTime=now(), error={"code": 3, "message": failure or "The tuning job failed."}
                )
            elif state == "JOB_STATE_SUCCEEDED":
                project, location = name.split("/")[1], name.split("/")[3]
                number = next(self._ids)
                model = f"projects/{project}/locations/{location}/models/{number}@1"
                serving = location
                if served_from_multi_regions(job["baseModel"]):
                    serving = multi_region_of(location) or location
                endpoint = f"projects/{project}/locations/{serving}/endpoints/{number}"
                job.update(endTime=now(), tunedModel={"model": model, "endpoint": endpoint})
                spec = job.get("supervisedTuningSpec") or {}
                self.generate.tuned(endpoint, job["baseModel"], spec.get("trainingDatasetUri"))
                stats = self._stats.get(name)
                if stats is not None:
                    job["tuningDataStats"] = {"supervisedTuningDataStats": stats}
                self.models[model.partition("@")[0]] = {
                    "name": model.partition("@")[0],
                    "displayName": job.get("tunedModelDisplayName", "tuned model"),
                    "labels": {BASE_MODEL_LABEL: re.sub(r"[^a-z0-9-]", "-", job["baseModel"])},
                    "createTime": now(),
                }

    def _finish(self, job: dict[str, Any]) -> dict[str, Any]:
        """Upload the tuned model to the registry; the job detail that names it."""
        values = job["runtimeConfig"].get("parameterValues", {})
        project, upload_region = (
            values.get("project", "local"),
            values.get("location", "us-central1"),
        )
        model = f"projects/{project}/locations/{upload_region}/models/{next(self._ids)}"
        base = BASE_MODELS.get(values.get("large_model_reference", ""))
        self.models[model] = {
            "name": model,
            "displayName": values.get("model_display_name", "tuned model"),
            "labels": {BASE_MODEL_LABEL: base.label_value if base else "unknown"},
            "createTime": now(),
        }
        return {
            "taskDetails": [
                _task("tune-large-model", "SUCCEEDED", {}),
                _task(
                    "upload-llm-model",
                    "SUCCEEDED",
                    {"output:model_resource_name": model + "\n"},
                    "system.ContainerExecution",
                ),
            ]
        }

    def _emit(self, job: dict[str, Any]) -> None:
        """The LogEntry a log sink exports for a pipeline job's state change."""
        _, project, _, location, _, job_id = job["name"].split("/")
        entry = {
            "logName": f"projects/{project}/logs/{JOB_EVENTS_LOG}",
            "resource": {
                "type": "aiplatform.googleapis.com/PipelineJob",
                "labels": {
                    "location": location,
                    "pipeline_job_id": job_id,
                    "resource_container": project,
                },
            },
            "timestamp": now(),
            "receiveTimestamp": now(),
            "severity": "ERROR" if job["state"] == "PIPELINE_STATE_FAILED" else "INFO",
            "insertId": f"{job_id}-{job['state'].lower()}",
            "labels": {"pipeline_job_id": job_id},
            "jsonPayload": {
                "state": job["state"],
                "pipelineName": job.get("displayName", ""),
                "pipelineJobId": job_id,
            },
        }
        self.log_entries.append(entry)
        if self.publish is not None:
            self.publish(entry)

    # --- Gemini supervised tuning jobs --------------------------------------------------------
    def _create_tuning(self, project: str, location: str, raw: bytes) -> tuple[int, Any]:
        body, problems = _read_body(raw, self._tuning_schema)
        if body is None:
            return _error(400, problems[0])
        spec = (body.get("supervisedTuningSpec") or {}) if isinstance(body, dict) else {}
        if isinstance(body, dict) and not body.get("baseModel"):
            problems.append("baseModel is required")
        if not spec.get("trainingDatasetUri"):
            problems.append("supervisedTuningSpec.trainingDatasetUri is required")
        if problems:
            return _error(400, "Invalid TuningJob: " + "; ".join(problems[:10]))
        with self._lock:
            full = bool(self.quota) and self._tuning() >= self.quota
            if full and self.quota_mode == "refuse":
                self.quota_refusals += 1
                return _error(
                    429,
                    f"Quota exceeded: the project runs {self.quota} concurrent tuning jobs at "
                    "most; try again when one has ended",
                    "RESOURCE_EXHAUSTED",
                )
            name = f"projects/{project}/locations/{location}/tuningJobs/{next(self._ids)}"
            failure = self._fail_next.pop(0) if self._fail_next else self._dataset_fault(spec)
            job = self._register(name, body, "JOB_STATE_PENDING")
            self._stats[name] = self._data_stats(spec)
            if full:
                self._queued[name] = failure  # RUNNING, WAITING_FOR_QUOTA, until a slot frees
            self.most_tuning = max(self.most_tuning, self._tuning())
        self._later(1, name, "JOB_STATE_RUNNING", None)
        if not full:
            self._later(2, name, "JOB_STATE_FAILED" if failure else "JOB_STATE_SUCCEEDED", failure)
        return self._committed(job)

    def _tuning(self) -> int:
        """Tuning jobs that hold a slot: not ended, not waiting for one (lock held)."""
        return sum(
            "/tuningJobs/" in name
            and name not in self._queued
            and job["state"].removeprefix("JOB_STATE_") not in _ENDED
            for name, job in self.jobs.items()
        )

    def _start_queued(self) -> None:
        """Jobs waiting for quota start tuning, oldest first, as slots free up."""
        starting: list[tuple[str, str | None]] = []
        with self._lock:
            while self._queued and self._tuning() < self.quota:
                name, failure = next(iter(self._queued.items()))
                del self._queued[name]
                job = self.jobs.get(name)
                if job is None or job["state"].removeprefix("JOB_STATE_") in _ENDED:
                    continue
                job["startTime"] = now()  # its tuning starts now
                starting.append((name, failure))
                self.most_tuning = max(self.most_tuning, self._tuning())
        for name, failure in starting:
            self._later(2, name, "JOB_STATE_FAILED" if failure else "JOB_STATE_SUCCEEDED", failure)

    def _with_progress(self, job: dict[str, Any]) -> dict[str, Any]:
        """A running job's detail state and completed epochs, as v1beta1 reports them: the
        epochs pass evenly over the step the job stays RUNNING (call with the lock held); a
        job past the quota waits, RUNNING, in TUNING_JOB_STATE_WAITING_FOR_QUOTA."""
        if job["state"] == "JOB_STATE_RUNNING" and job["name"] in self._queued:
            return {**job, "tuningJobState": "TUNING_JOB_STATE_WAITING_FOR_QUOTA"}
        if job["state"] != "JOB_STATE_RUNNING" or "startTime" not in job:
            return job
        spec = job.get("supervisedTuningSpec") or {}
        epochs = int((spec.get("hyperParameters") or {}).get("epochCount") or 3)
        started = datetime.fromisoformat(job["startTime"].replace("Z", "+00:00"))
        share = (datetime.now(UTC) - started).total_seconds() / max(self.step_seconds, 1e-3)
        done = min(epochs - 1, int(share * epochs))
        return {
            **job,
            "tuningJobState": "TUNING_JOB_STATE_TUNING",
            "tuningJobMetadata": {"completedEpochCount": str(done)},
        }

    def _dataset_fault(self, spec: dict[str, Any]) -> str | None:
        """What Vertex AI would fail the job for: a dataset missing or not in Gemini's format,
        judged by a schema written from Google's documentation, not by codetune's converter."""
        if self.read_dataset is None:
            return None
        for key in ("trainingDatasetUri", "validationDatasetUri"):
            uri = spec.get(key)
            if not uri:
                continue
            data = self.read_dataset(uri)
            if data is None:
                return f"{key} {uri} not found"
            for number, line in enumerate(data.splitlines(), start=1):
                try:
                    found = [
                        error.message for error in GEMINI_EXAMPLE.iter_errors(orjson.loads(line))
                    ]
                except orjson.JSONDecodeError:
                    found = ["not JSON"]
                if found:
                    return f"{key} line {number}: {found[0]}"
        return None

    def _data_stats(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        """What Vertex AI reports of a dataset it tuned on (TuningJob.tuningDataStats): its
        examples, billable tokens and the examples it dropped for being over the model's tokens
        per example (1-based indices, each with a reason). Tokens here are characters / 4 of
        the text parts, the stand-in's own count: the real service's tokenizer differs."""
        data = self.read_dataset(spec["trainingDatasetUri"]) if self.read_dataset else None
        if data is None:
            return None
        examples, billable, dropped = 0, 0, []
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                example = orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
            turns = [example.get("systemInstruction") or {}, *(example.get("contents") or [])]
            characters = sum(
                len(part.get("text") or "") for turn in turns for part in turn.get("parts") or []
            )
            tokens = -(-characters // 4)
            examples += 1
            if tokens > MAX_TOKENS_PER_EXAMPLE:
                dropped.append(number)
            else:
                billable += tokens
        epochs = int((spec.get("hyperParameters") or {}).get("epochCount") or 3)
        return {
            "tuningDatasetExampleCount": str(examples),
            "totalBillableTokenCount": str(billable),
            "tuningStepCount": str(max(1, -(-(examples - len(dropped)) * epochs // 8))),
            "totalTruncatedExampleCount": str(len(dropped)),
            "truncatedExampleIndices": [str(index) for index in dropped[:50]],
            "droppedExampleReasons": [DROPPED_REASON for _ in dropped[:50]],
        }

    def _tuning_jobs(
        self, version: str, project: str, location: str, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        """tuningJobs.list: one page of the location's jobs that match the filter, in the
        order they were created; v1beta1's with their progress."""
        unknown = sorted(set(query) - _LIST_PARAMETERS)
        if unknown:
            return _error(400, f"Invalid request: unknown query parameter {unknown[0]!r}")
        try:
            match = _label_filter(query)
            size = _page_size(query)
        except ValueError as fault:
            return _error(400, str(fault))
        parent = f"projects/{project}/locations/{location}"
        request = hashlib.sha256(f"{parent}?{match}".encode()).hexdigest()[:16]
        token = (query.get("pageToken") or [""])[0]
        start = _page_start(token, request) if token else 0
        if start is None:
            return _error(400, f"Invalid page token {token[:40]!r} for this request")
        with self._lock:
            found = [
                self._with_progress(dict(j)) if version == "v1beta1" else dict(j)
                for n, j in sorted(self.jobs.items())
                if n.startswith(f"{parent}/tuningJobs/")
                and (match is None or (j.get("labels") or {}).get(match[0]) == match[1])
            ]
        page: dict[str, Any] = {}
        if found[start : start + size]:  # proto3 JSON leaves an empty list out
            page["tuningJobs"] = found[start : start + size]
        if start + size < len(found):
            page["nextPageToken"] = _page_token(start + size, request)
        return 200, page

    def _models(self, project: str, location: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        try:
            match = _label_filter(query)
        except ValueError as fault:
            return _error(400, str(fault))
        prefix = f"projects/{project}/locations/{location}/models/"
        models = [
            m
            for name, m in sorted(self.models.items())
            if name.startswith(prefix) and (match is None or m["labels"].get(match[0]) == match[1])
        ]
        return 200, {"models": models}

    # --- HTTP ----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            headers_out: dict[str, str]  # more headers for the answer being made

            def _send(self, status: int, document: Any) -> None:
                data = orjson.dumps(document)
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in self.headers_out.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[int, Any]:
                self.headers_out = {}
                url = urlparse(self.path)
                standin.requests.append((self.command, url.path))
                with standin._lock:
                    method = standin._fault_method
                    due = standin._faults and method in (None, self.command)
                    fault = standin._faults.pop(0) if due else None
                if fault:
                    return _error(fault[0], "injected fault: try again", fault[1])
                query = parse_qs(url.query)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.command == "POST" and (m := _JOBS.match(url.path)):
                    return standin._create(m["project"], m["location"], query, raw)
                if self.command == "GET" and (m := _JOB.match(url.path)):
                    name = url.path.removeprefix("/v1/")
                    with standin._lock:
                        job = standin.jobs.get(name)
                        return (
                            (200, dict(job))
                            if job
                            else _error(404, f"PipelineJob {name} not found")
                        )
                if self.command == "POST" and (m := _TUNING_JOBS.match(url.path)):
                    return standin._create_tuning(m["project"], m["location"], raw)
                if self.command == "GET" and (m := _LIST_TUNING_JOBS.match(url.path)):
                    return standin._tuning_jobs(m["version"], m["project"], m["location"], query)
                if self.command == "GET" and (m := _TUNING_JOB.match(url.path)):
                    name = url.path.removeprefix("/v1/")
                    with standin._lock:
                        job = standin.jobs.get(name)
                        return (
                            (200, dict(job)) if job else _error(404, f"TuningJob {name} not found")
                        )
                if self.command == "POST" and (m := _CANCEL.match(url.path)):
                    return standin._cancel(m["name"], m["collection"], raw)
                if self.command == "GET" and (m := _BETA_TUNING_JOB.match(url.path)):
                    name = url.path.removeprefix("/v1beta1/")
                    with standin._lock:
                        job = standin.jobs.get(name)
                        return (
                            (200, standin._with_progress(dict(job)))
                            if job
                            else _error(404, f"TuningJob {name} not found")
                        )
                if self.command == "GET" and (m := _MODELS.match(url.path)):
                    return standin._models(m["project"], m["location"], query)
                if self.command == "GET" and (got := standin.metrics.route(url.path, query)):
                    return got
                if self.command == "POST" and (said := standin.generate.route(url.path, raw)):
                    status, document, self.headers_out = said
                    return status, document
                return _error(404, f"{self.command} {url.path} is not served by the stand-in")

            def do_GET(self) -> None:
                status, document = self._route()
                if status == NO_ANSWER:
                    self.close_connection = True  # the caller sees the connection drop
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._send(status, document)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        return Handler


_ENDED = ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED")


def _read_body(raw: bytes, schema: jsonschema.Draft202012Validator) -> tuple[Any, list[str]]:
    """The request body and what the official schema finds wrong with it (None: not JSON)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as fault:
        return None, [f"Invalid JSON payload received. {fault.msg}"]
    return body, [
        f"{'.'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
        for e in schema.iter_errors(body)
    ]


# tuningJobs.list's query parameters (aiplatform v1 and v1beta1 discovery documents), and the
# system parameters every Google API takes that a client may send.
_LIST_PARAMETERS = frozenset({"filter", "pageSize", "pageToken", "alt", "$.xgafv"})
# Label keys and values as Google's label rules have them (lowercase, at most 63 characters).
_LABEL_FILTER = re.compile(r'labels\.([a-z][a-z0-9_-]{0,62})\s*=\s*("?)([a-z0-9_-]{0,63})\2')


def _label_filter(query: dict[str, list[str]]) -> tuple[str, str] | None:
    """The one filter form Google documents: labels.KEY="VALUE" (quotes optional); None when
    there is no filter, ValueError for any other."""
    wanted = (query.get("filter") or [""])[0].strip()
    if not wanted:
        return None
    found = _LABEL_FILTER.fullmatch(wanted)
    if found is None:
        raise ValueError(
            f'Unsupported filter {wanted[:80]!r}: the stand-in takes labels.KEY="VALUE" only'
        )
    return found[1], found[3]


def _page_size(query: dict[str, list[str]]) -> int:
    """`pageSize` (int32): unset or 0 is the default, a larger one is cut to the maximum."""
    given = (query.get("pageSize") or ["0"])[0]
    if not re.fullmatch(r"-?[0-9]{1,10}", given) or int(given) < 0:
        raise ValueError(f"Invalid pageSize {given[:20]!r}: a number, 0 or more")
    return min(int(given), LIST_PAGE_SIZE) or LIST_PAGE_SIZE


def _page_token(start: int, request: str) -> str:
    return base64.urlsafe_b64encode(f"{start}:{request}".encode()).decode()


def _page_start(token: str, request: str) -> int | None:
    """Where the page a token names starts, if the token is one this request was given."""
    try:
        start, _, made_for = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return int(start) if start.isdigit() and made_for == request else None


# PipelineTaskDetail.state -> its execution's (aiplatform v1 Execution.State).
EXECUTION_STATES = {"SUCCEEDED": "COMPLETE", "RUNNING": "RUNNING", "PENDING": "NEW"}


def _task(
    name: str, state: str, metadata: dict[str, Any], schema_title: str = "system.Run"
) -> dict[str, Any]:
    return {
        "taskId": str(abs(hash(name)) % 10**12),
        "taskName": name,
        "state": state,
        "createTime": now(),
        "execution": {
            "schemaTitle": schema_title,
            "state": EXECUTION_STATES.get(state, "FAILED"),
            "metadata": metadata,
        },
    }


def _error(status: int, message: str, reason: str | None = None) -> tuple[int, dict[str, Any]]:
    """Google's error body (google.rpc.Status as JSON)."""
    return status, {
        "error": {
            "code": status,
            "message": message,
            "status": reason or _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


def wait_for(condition: Callable[[], bool], seconds: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()
