"""The tuning-backend interface: what differs between kinds of tuning job.

A backend names the base models it tunes, plans a job (pure: dataset and parameters in, the
request or every problem out), submits it exactly once, and reads a job's state and result.
Callers hold a backend from the registry (`codetune.tuning.backends`) and never ask which kind
it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import msgspec

from codetune.dataset import DatasetFormat, DatasetKind, RuleSet
from codetune.ports import JobRequest, ObjectStore, Submission
from codetune.state import JobPointer, RecordStore, Stage, TunedModel
from codetune.state.records import Curves, DataStats, Failure, Progress
from codetune.tuning.common import DatasetRef, Derived
from codetune.tuning.parameters import TuningParameters


class VertexAI(Protocol):
    """What the backends and the application layer ask of Vertex AI (codetune.vertex)."""

    def get_job(self, name: str) -> dict[str, Any]: ...

    def create_pipeline_job(self, request: JobRequest) -> Submission: ...

    def create_tuning_job(self, request: JobRequest) -> dict[str, Any]: ...

    def cancel_job(self, name: str) -> None: ...

    def list_models(
        self, project: str, location: str, label: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]: ...

    def list_tuning_jobs(self, project: str, region: str) -> list[dict[str, Any]]: ...

    def find_tuning_jobs(
        self, project: str, region: str, label: tuple[str, str]
    ) -> list[dict[str, Any]]: ...

    def tuning_job_pages(
        self, project: str, region: str, label: tuple[str, str]
    ) -> Iterator[list[dict[str, Any]]]: ...

    # A job's training metrics (codetune.tuning.curves).
    def get_metadata(self, name: str, kind: str) -> dict[str, Any]: ...

    def list_experiment_runs(self, experiment: str) -> list[dict[str, Any]]: ...

    def list_time_series(self, run: str) -> list[dict[str, Any]]: ...

    def read_time_series(self, name: str, max_points: int) -> dict[str, Any]: ...


class TuningPlan(Protocol):
    """A planned request, whatever its backend."""

    @property
    def backend(self) -> str: ...

    @property
    def base_model(self) -> str: ...

    @property
    def evaluation_source(self) -> str | None: ...

    @property
    def derived(self) -> Derived: ...

    @property
    def body(self) -> dict[str, Any]: ...

    @property
    def warnings(self) -> list[str]: ...

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class SubmitContext(msgspec.Struct, frozen=True):
    """What submitting needs: the validated dataset version (and evaluation dataset version) and
    the collaborators. `pointer(job_name)` makes the job's pointer to its record."""

    dataset: DatasetRef
    kind: DatasetKind
    format: DatasetFormat
    evaluation: DatasetRef | None
    evaluation_format: DatasetFormat
    storage: ObjectStore
    store: RecordStore
    vertex: VertexAI
    pointer: Callable[[str], JobPointer]
    # Called with the tokens one epoch of the job trains on, counted on the very file it reads
    # (None: the validated dataset's own count), after any conversion and before the create:
    # raises PlanRejected when the job is over the deployment's budget. No default: a caller
    # that forgot it would skip the budget.
    admit: Callable[[int | None], None]
    # How long a claim whose creator died is left alone before it is taken over (Gemini).
    claim_timeout_seconds: float = 600
    # False when the record shows a job existed (job events arrived) but not tune's own write:
    # the job is looked for, never created again.
    may_create: bool = True
    # The deployment's tokenizer, counting what trains as validate counted the dataset.
    count_tokens: Callable[[str], int] | None = None
    # Called just before the job is created, holding the claim: raises CancelledBeforeJob
    # when a cancel got to the record first (codetune.app.cancel).
    before_create: Callable[[], None] = lambda: None


class Submitted(msgspec.Struct, frozen=True):
    job: dict[str, Any]  # the job resource as Vertex AI returned it
    created: bool  # False: an earlier delivery had created it


class Listing(msgspec.Struct, frozen=True):
    """A list request whose pages hold a job among others of the deployment: the project and
    region listed, and the label the jobs share."""

    project: str
    region: str
    label: tuple[str, str]


class JobOutcome(msgspec.Struct, frozen=True):
    """A job as read now: its record stage (None for a state with none), result or error."""

    state: str
    stage: Stage | None
    tuned_model: TunedModel | None = None
    error: Failure | None = None
    # What the service counted in the dataset (Gemini's tuningDataStats), by our names.
    data_stats: DataStats | None = None
    progress: Progress | None = None  # while it runs, as far as the service says


def job_error(job: Mapping[str, Any]) -> Failure | None:
    """Google's error of a failed or cancelled job (google.rpc.Status: code, message)."""
    error = job.get("error")
    if not isinstance(error, dict) or not error:
        return None
    code = error.get("code")
    return Failure(
        message=str(error.get("message") or "(no message)"),
        code=code if isinstance(code, int | str) and not isinstance(code, bool) else None,
    )


class TuningBackend(Protocol):
    name: str
    formats: frozenset[DatasetFormat]  # the dataset formats it can tune

    def tunes(self, base_model: str) -> bool:
        """Whether this backend tunes `base_model`."""
        ...

    def models(self) -> list[str]:
        """Every base model it tunes."""
        ...

    def plan(
        self,
        dataset: DatasetRef,
        kind: DatasetKind,
        examples: int,
        parameters: TuningParameters,
        format: DatasetFormat = DatasetFormat.SEED,
        state_bucket: str | None = None,
    ) -> TuningPlan:
        """The request, or PlanRejected with every problem. No I/O. The job reads its data
        from `state_bucket` (default: the upload bucket's, `<bucket>-state`)."""
        ...

    def submit(self, plan: Any, context: SubmitContext) -> Submitted:
        """Create the job exactly once, its pointer written so status events find its record."""
        ...

    def outcome(self, job: Mapping[str, Any]) -> JobOutcome:
        """Where a job stands, from the job resource."""
        ...

    def tuned_models(
        self, vertex: VertexAI, project: str, region: str, base_model: str | None
    ) -> list[str]:
        """The tuned models of `base_model` (of every model it tunes when None) in a region;
        none when it does not tune `base_model`."""
        ...

    def rules(self, base_model: str) -> RuleSet:
        """The rules a dataset for `base_model` is validated against."""
        ...

    def curves(self, vertex: VertexAI, job: Mapping[str, Any]) -> Curves:
        """An ended job's training metrics, or where a person finds them and why they are not
        here. Never raises for a metric that cannot be read: the job's end is recorded anyway."""
        ...

    def listing(self, pointer: JobPointer, state_bucket: str) -> Listing | None:
        """The list request that returns this unfinished job with others of the deployment
        (`state_bucket`'s), for the sweep; None: the job is read by itself."""
        ...

    def listed(self, vertex: VertexAI, listing: Listing) -> Iterator[list[dict[str, Any]]]:
        """The pages of `listing`, read one at a time as they are asked for: jobs as `get_job`
        reads them, each name held to the deployment (ForeignName otherwise)."""
        ...
