"""The Vertex AI client: create and read pipeline jobs and tuning jobs over REST.

- Credentials: application default credentials (google-auth) and an authorized `requests`
  session, for Google's regional endpoint. A configured endpoint (a local stand-in) needs none.
- A create is sent once, never retried here: after a timeout or a 5xx the job may exist, and
  only the caller (tuning/backends/once.py) can look for it before creating again. A pipeline
  create answered 409 ALREADY_EXISTS returns the existing job.
- Hosts come only from the deployment's regions (codetune.deployment): a job name read from
  state, an event or an answer is checked against the deployment before any request is built
  from it, and refused as ForeignName otherwise.
- Reads are retried on 429, 5xx, 409 ABORTED and timeouts with exponential backoff and jitter,
  then raised as RetryableVertexError; other refusals are PermanentVertexError with Google's
  own message and status. generateContent (an evaluation's answers) is retried the same way: it
  changes nothing, and a retry after a timeout costs at most one answer's tokens twice.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import requests

from codetune.deployment import Deployment
from codetune.exceptions import ForeignName, PermanentVertexError, RetryableVertexError
from codetune.ports import JobRequest, Submission
from codetune.serving import host
from codetune.tuning.common import API_HOST, LABEL_KEY, LABEL_VALUE

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_PATH = re.compile(
    r"/v1/projects/(?P<project>[a-z0-9-]{1,30})/locations/(?P<region>[a-z0-9-]{1,50})"
    r"/(?:tuningJobs|pipelineJobs)",
    re.ASCII,
)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Jobs asked for a page of tuningJobs.list: Google documents no maximum for it, and its list
# methods cut a larger page size to theirs.
LIST_PAGE_SIZE = 100
CONFLICT = 409  # ALREADY_EXISTS (the job exists) or ABORTED (retry), by Google's status


class VertexConfig(msgspec.Struct, frozen=True):
    """How to reach Vertex AI. `endpoint` None means Google's regional endpoint."""

    endpoint: str | None = None  # e.g. "http://127.0.0.1:8085" for the local stand-in
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 32.0
    deployment: Deployment = Deployment()  # the project and regions requests may go to


class VertexClient:
    def __init__(
        self,
        config: VertexConfig | None = None,
        credentials: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config or VertexConfig()
        self._credentials = credentials
        self._session: requests.Session | None = None
        self._sleep = sleep
        self._jitter = jitter

    # --- pipeline jobs -----------------------------------------------------------------------
    def create_pipeline_job(self, request: JobRequest) -> Submission:
        """Submit the job; a job that already exists under its id is returned as is."""
        url = self._base(request.region) + self._path(request.path)
        # Sent once, like a tuning job: the id refuses a second job only while the first exists
        # (a deleted job frees it). After an ambiguous failure the next delivery looks first.
        response = self._request(
            "POST", url, max_attempts=1, params={"pipelineJobId": request.job_id}, json=request.body
        )
        if response.status_code == CONFLICT and request.job_name:
            return Submission(self.get_job(request.job_name), created=False)
        return Submission(self._created(response), created=True)

    # --- Gemini tuning jobs --------------------------------------------------------------------
    def create_tuning_job(self, request: JobRequest) -> dict[str, Any]:
        """Create a supervised tuning job, sent once: it has no client-chosen id, so a re-send
        after a timeout or a 5xx could create a second paid job (Google's own client does not
        retry this method either). Such an ambiguous failure is raised as RetryableVertexError;
        the caller looks for the job by its request label before it creates again."""
        return self._created(
            self._request(
                "POST",
                self._base(request.region) + self._path(request.path),
                json=request.body,
                max_attempts=1,
            )
        )

    def find_tuning_jobs(
        self, project: str, region: str, label: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """Tuning jobs with this label."""
        url = self._collection(project, region, "tuningJobs")
        found = self._list(url, "tuningJobs", {"filter": f'labels.{label[0]}="{label[1]}"'})
        for job in found:  # a name found becomes a claim's, a pointer's and a record's
            self.config.deployment.job_name(job.get("name"))
        return found

    def list_tuning_jobs(self, project: str, region: str) -> list[dict[str, Any]]:
        return self._list(self._collection(project, region, "tuningJobs"), "tuningJobs", {})

    def tuning_job_pages(
        self, project: str, region: str, label: tuple[str, str]
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of tuningJobs.list for the jobs with this label, each sent only when the
        caller asks for it. From v1beta1, as `get_job` reads a job (its progress included);
        every job's name is held to the deployment (ForeignName otherwise)."""
        key, value = label
        if not (LABEL_KEY.fullmatch(key) and LABEL_VALUE.fullmatch(value)):
            raise ValueError(f"not a label to filter by: {label!r}")
        parent = self.config.deployment.location(project, region)
        url = f"{self._base(region)}/v1beta1/{parent}/tuningJobs"
        params = {"filter": f'labels.{key}="{value}"', "pageSize": str(LIST_PAGE_SIZE)}
        while True:
            page = self._json(self._request("GET", url, params=params))
            jobs = page.get("tuningJobs") or []
            if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
                raise PermanentVertexError(f"GET {url}: tuningJobs is not a list of jobs", 200)
            for job in jobs:
                self.config.deployment.job_name(job.get("name"))
            yield jobs
            if not page.get("nextPageToken"):
                return
            params = {**params, "pageToken": str(page["nextPageToken"])}

    def get_job(self, name: str) -> dict[str, Any]:
        """A pipeline job or a tuning job, by resource name (projects/P/locations/L/...). A
        tuning job is read from v1beta1, v1's resource with its progress while it runs
        (`tuningJobState`, `tuningJobMetadata`), which v1 leaves out."""
        region = self.config.deployment.job_region(name)
        version = "v1beta1" if "/tuningJobs/" in name else "v1"
        return self._job(self._request("GET", f"{self._base(region)}/{version}/{name}"))

    def cancel_job(self, name: str) -> None:
        """Ask Vertex AI to stop a job (tuningJobs.cancel, pipelineJobs.cancel): it goes
        CANCELLING, then CANCELLED. PermanentVertexError 400 FAILED_PRECONDITION for a job that
        has ended, 404 for one that is gone."""
        region = self.config.deployment.job_region(name)
        self._request("POST", f"{self._base(region)}/v1/{name}:cancel", json={})

    def list_models(
        self, project: str, location: str, label: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Models in the Model Registry, optionally those with one label."""
        url = self._collection(project, location, "models")
        return self._list(
            url, "models", {"filter": f"labels.{label[0]}={label[1]}"} if label else {}
        )

    # --- training metrics (docs/curves.md) ---------------------------------------------------
    # The way Google's SDK reads an experiment run's metrics: the experiment (a metadata
    # context), its runs (contexts under it), each run's TensorBoard run (the metadata artifact
    # `<run>-tb-run`), that run's time series, and each series' data. Every name, even one
    # Vertex AI answered, is held to the deployment before a request is built from it.
    def get_metadata(self, name: str, kind: str) -> dict[str, Any]:
        """A metadata context or artifact (`kind`: "metadata context", "metadata artifact")."""
        region = self.config.deployment.metrics_region(name, kind)
        return self._json(self._request("GET", f"{self._base(region)}/v1/{name}"))

    def list_experiment_runs(self, experiment: str) -> list[dict[str, Any]]:
        """The run contexts of an experiment, found as the SDK finds them."""
        region = self.config.deployment.metrics_region(experiment, "metadata context")
        store = experiment.rpartition("/contexts/")[0]
        wanted = f'schema_title="system.ExperimentRun" AND parent_contexts:"{experiment}"'
        url = f"{self._base(region)}/v1/{store}/contexts"
        return self._list(url, "contexts", {"filter": wanted})

    def list_time_series(self, run: str) -> list[dict[str, Any]]:
        """The time series of a TensorBoard run."""
        region = self.config.deployment.metrics_region(run, "tensorboard run")
        url = f"{self._base(region)}/v1/{run}/timeSeries"
        return self._list(url, "tensorboardTimeSeries", {})

    def read_time_series(self, name: str, max_points: int) -> dict[str, Any]:
        """A time series' data (`timeSeries.read`): all of it up to `max_points`, beyond which
        Vertex AI picks that many at random (its ceiling is 10,000)."""
        region = self.config.deployment.metrics_region(name, "time series")
        url = f"{self._base(region)}/v1/{name}:read"
        return self._json(self._request("GET", url, params={"maxDataPoints": str(max_points)}))

    # --- answers (docs/evaluation.md) ------------------------------------------------------
    def generate_content(
        self, model: str, request: dict[str, Any], max_attempts: int | None = None
    ) -> dict[str, Any]:
        """One answer (`generateContent`, aiplatform v1) of `model`: a base model by its full
        name (`projects/P/locations/L/publishers/google/models/M`) or a tuned model's endpoint
        (`projects/P/locations/L/endpoints/E`), held to the deployment before anything is sent;
        `request` is a GenerateContentRequest. Returns the GenerateContentResponse as JSON
        (codetune.evaluation.answers reads it). 429 and 5xx are retried with backoff, honouring
        Retry-After, up to `max_attempts` (default: the client's), then RetryableVertexError."""
        location = self.config.deployment.model_location(model)
        url = f"{self._model_base(location)}/v1/{model}:generateContent"
        response = self._request("POST", url, max_attempts=max_attempts, json=request)
        if response.status_code != 200:  # a 409 ALREADY_EXISTS is no answer
            message, reason = _google_error(response)
            raise PermanentVertexError(
                f"POST {url}: {response.status_code} {message}", response.status_code, reason
            )
        return self._json(response)

    def _list(self, url: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every page of a list method."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._json(self._request("GET", url, params=params))
            found += page.get(key) or []
            if not page.get("nextPageToken"):
                return found
            params = {**params, "pageToken": page["nextPageToken"]}

    # --- plumbing ----------------------------------------------------------------------------
    def _base(self, region: str) -> str:
        self.config.deployment.region(region)  # the stand-in is held to the same check
        if self.config.endpoint:
            return self.config.endpoint.rstrip("/")
        return "https://" + API_HOST.format(region=region)

    def _model_base(self, location: str) -> str:
        """The base URL for a model at `location`, one the deployment admitted: its region's
        host, or the multi-region's (codetune.serving), never a host read from a name."""
        if self.config.endpoint:
            return self.config.endpoint.rstrip("/")
        return "https://" + host(location)

    def _collection(self, project: str, region: str, collection: str) -> str:
        projects = self.config.deployment.projects
        if projects and project not in projects:
            raise ForeignName(f"project {project!r} is not this deployment's")
        return f"{self._base(region)}/v1/projects/{project}/locations/{region}/{collection}"

    def _path(self, path: str) -> str:
        """A plan's path, held to the deployment like a job name: exactly
        /v1/projects/P/locations/REGION/(tuningJobs|pipelineJobs)."""
        found = _PATH.fullmatch(path)
        if found is None:
            raise ForeignName(f"not a job collection's path: {path[:120]!r}")
        self._collection(found["project"], found["region"], "")
        return path

    def _job(self, response: requests.Response) -> dict[str, Any]:
        """A job resource whose name is one of the deployment's: what is stored and read again."""
        job = self._json(response)
        self.config.deployment.job_name(job.get("name"))
        return job

    def _created(self, response: requests.Response) -> dict[str, Any]:
        """A job just created: one named outside the deployment exists all the same, so the
        create is ambiguous (its claim stays), never a refusal that forgets a paid job."""
        try:
            return self._job(response)
        except ForeignName as fault:
            raise RetryableVertexError(
                f"Vertex AI created a job it names outside this deployment ({fault}): check "
                "CODETUNE_PROJECT_NUMBER and the region"
            ) from fault

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            credentials = self._credentials
            if credentials is None and not self.config.endpoint:
                import google.auth

                credentials, _ = google.auth.default(scopes=list(SCOPES))
            if credentials is None:
                self._session = requests.Session()
            else:
                from google.auth.transport.requests import AuthorizedSession

                self._session = AuthorizedSession(credentials)
        return self._session

    def _request(
        self, method: str, url: str, max_attempts: int | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send, retrying what is transient; return a 2xx or a 409 ALREADY_EXISTS response. Any
        other 409 (ABORTED: a concurrent change) is retryable."""
        attempts = max_attempts or self.config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(
                    method, url, timeout=self.config.timeout_seconds, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError) as fault:
                if attempt == attempts:
                    raise RetryableVertexError(
                        f"{method} {url}: no answer after {attempts} attempts ({type(fault).__name__})"
                    ) from fault
                self._sleep(self._backoff(attempt, None))
                continue
            status = response.status_code
            if status < 300:
                return response
            message, reason = _google_error(response)
            if status == CONFLICT and reason == "ALREADY_EXISTS":
                return response
            if status not in RETRYABLE_STATUS and not (status == CONFLICT and reason == "ABORTED"):
                raise PermanentVertexError(f"{method} {url}: {status} {message}", status, reason)
            if attempt == attempts:
                raise RetryableVertexError(
                    f"{method} {url}: {status} {message} (after {attempts} attempts)",
                    status,
                    reason,
                )
            self._sleep(self._backoff(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with jitter; a server's Retry-After (seconds) wins if longer."""
        ceiling = min(
            self.config.max_backoff_seconds,
            self.config.first_backoff_seconds * 2.0 ** (attempt - 1),
        )
        delay = ceiling * (0.5 + self._jitter() / 2)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self.config.max_backoff_seconds))
        return delay

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            document = response.json()
        except ValueError as fault:
            raise PermanentVertexError(
                f"{response.request.method} {response.url}: answer is not JSON",
                response.status_code,
            ) from fault
        if not isinstance(document, dict):
            raise PermanentVertexError(
                f"{response.url}: answer is not a JSON object", response.status_code
            )
        return document


def _google_error(response: requests.Response) -> tuple[str, str | None]:
    """Google's error message and status (`{"error": {"code", "message", "status"}}`)."""
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or response.reason), error.get("status")
    except (ValueError, AttributeError):
        return (response.text[:500] or str(response.reason)), None
