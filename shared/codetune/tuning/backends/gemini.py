"""Today's backend: Gemini supervised tuning jobs (`tuningJobs.create`), on the dataset
converted to Gemini's format.

Exactly once without a client-chosen id: the plan's request digest is claimed (backends/once.py)
and a job left unnamed by a delivery that died is found by the digest's label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole, Rule, RuleSet
from codetune.dataset.lines import read_lines
from codetune.dataset.rules import GEMINI_MIN_TRAINING_EXAMPLES, MAX_LINE_BYTES
from codetune.exceptions import PlanRejected
from codetune.gemini import models
from codetune.gemini.check import GeminiDataset, convert_and_check
from codetune.gemini.plan import (
    LIST_LABEL,
    REQUEST_LABEL,
    TuningJobPlan,
    list_label,
    plan_tuning_job,
)
from codetune.ports import ObjectStore
from codetune.state import JobPointer, Stage, TunedModel
from codetune.state.records import Curves, DataStats, Dropped, Progress
from codetune.tuning.backends.base import (
    JobOutcome,
    Listing,
    SubmitContext,
    Submitted,
    VertexAI,
    job_error,
)
from codetune.tuning.backends.once import Creation, create_once
from codetune.tuning.common import DatasetRef
from codetune.tuning.curves import job_console, now_iso, read_experiment
from codetune.tuning.parameters import Problem, TuningParameters

# TuningJob.state values (aiplatform v1 discovery document).
STAGES = {
    "JOB_STATE_QUEUED": Stage.QUEUED,
    "JOB_STATE_PENDING": Stage.QUEUED,
    "JOB_STATE_RUNNING": Stage.RUNNING,
    "JOB_STATE_UPDATING": Stage.RUNNING,
    "JOB_STATE_CANCELLING": Stage.RUNNING,
    "JOB_STATE_PAUSED": Stage.RUNNING,
    "JOB_STATE_SUCCEEDED": Stage.SUCCEEDED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": Stage.SUCCEEDED,
    "JOB_STATE_FAILED": Stage.FAILED,
    "JOB_STATE_EXPIRED": Stage.FAILED,
    "JOB_STATE_CANCELLED": Stage.CANCELLED,
}


class GeminiBackend:
    name = "gemini"
    formats = frozenset(DatasetFormat)  # every format converts to Gemini's

    def tunes(self, base_model: str) -> bool:
        return base_model in models.GEMINI_MODELS

    def models(self) -> list[str]:
        return list(models.GEMINI_MODELS)

    def plan(
        self,
        dataset: DatasetRef,
        kind: DatasetKind,
        examples: int,
        parameters: TuningParameters,
        format: DatasetFormat = DatasetFormat.SEED,
        state_bucket: str | None = None,
    ) -> TuningJobPlan:
        # Every format converts.
        return plan_tuning_job(dataset, kind, examples, parameters, state_bucket=state_bucket)

    def submit(self, plan: TuningJobPlan, context: SubmitContext) -> Submitted:
        context_text = plan.derived.default_context
        training = convert(
            context.storage,
            context.dataset,
            plan.derived.training_dataset_uri,
            context.kind,
            DatasetRole.TRAINING,
            context_text,
            models.GEMINI_MODELS[plan.base_model],
            context.format,
            context.count_tokens,
        )
        if context.evaluation is not None:
            # A validated evaluation dataset comes only with the plan's evaluation_data_uri,
            # which gives it its validation copy.
            assert plan.derived.validation_dataset_uri is not None
            convert(
                context.storage,
                context.evaluation,
                plan.derived.validation_dataset_uri,
                context.kind,
                DatasetRole.EVALUATION,
                context_text,
                models.GEMINI_MODELS[plan.base_model],
                context.evaluation_format,
            )
        context.admit(training.tokens)  # what trains, context and system instructions included
        job, created = create_once(context, creation(context, plan))
        context.store.write_pointer(context.pointer(job["name"]))
        return Submitted(job, created)

    def outcome(self, job: Mapping[str, Any]) -> JobOutcome:
        state = str(job.get("state"))
        stage = STAGES.get(state)
        tuned = job.get("tunedModel") or {}
        model = tuned.get("model") if stage is Stage.SUCCEEDED else None
        return JobOutcome(
            state=state,
            stage=stage,
            tuned_model=TunedModel(model, tuned.get("endpoint")) if model else None,
            error=job_error(job) if stage in (Stage.FAILED, Stage.CANCELLED) else None,
            data_stats=data_stats(job),
            progress=progress(job) if stage is Stage.RUNNING else None,
        )

    def rules(self, base_model: str) -> RuleSet:
        """Google's limits for the model (codetune.gemini.models); Gemini takes chat for
        validation too."""
        model = models.GEMINI_MODELS[base_model]
        return RuleSet(
            name="gemini",
            base_model=model.name,
            min_training_examples=GEMINI_MIN_TRAINING_EXAMPLES,
            recommended_training_examples=models.RECOMMENDED_EXAMPLES,
            max_training_examples=model.max_training_examples,
            max_chat_author_fields=None,
            evaluation_examples=(1, model.max_validation_examples),
            evaluation_chat=True,
            max_tokens_per_example=model.max_tokens_per_example,
            size_rule=Rule.GEMINI_SIZE,
            evaluation_rule=Rule.GEMINI_SIZE,
            max_training_file_bytes=model.max_training_file_bytes,
            evaluation_share=(models.VALIDATION_SHARE_FROM, models.VALIDATION_SHARE),
        )

    def curves(self, vertex: VertexAI, job: Mapping[str, Any]) -> Curves:
        """The metrics in the job's experiment (TuningJob.experiment), read as the SDK does."""
        experiment = job.get("experiment")
        if isinstance(experiment, str) and experiment:
            return read_experiment(vertex, experiment)
        return Curves(
            now_iso(),
            console=job_console(str(job.get("name"))),
            note="the job names no experiment: no metrics to read",
        )

    def listing(self, pointer: JobPointer, state_bucket: str) -> Listing | None:
        """tuningJobs.list by the sweep's label: the deployment's jobs of the upload's day."""
        parts = pointer.job.split("/")
        value = list_label(state_bucket, pointer.generation)
        if len(parts) != 6 or parts[0::2] != ["projects", "locations", "tuningJobs"] or not value:
            return None
        return Listing(parts[1], parts[3], (LIST_LABEL, value))

    def listed(self, vertex: VertexAI, listing: Listing) -> Iterator[list[dict[str, Any]]]:
        return vertex.tuning_job_pages(listing.project, listing.region, listing.label)

    def tuned_models(
        self, vertex: VertexAI, project: str, region: str, base_model: str | None
    ) -> list[str]:
        """The tuned models of the region's succeeded tuning jobs of `base_model`."""
        if base_model is not None and not self.tunes(base_model):
            return []
        names = []
        for job in vertex.list_tuning_jobs(project, region):
            model = (job.get("tunedModel") or {}).get("model")
            if model and (base_model is None or job.get("baseModel") == base_model):
                names.append(model)
        return names


def convert(
    storage: ObjectStore,
    source: DatasetRef,
    target_uri: str,
    kind: DatasetKind,
    role: DatasetRole,
    default_context: str | None,
    model: models.GeminiModel | None = None,
    format: DatasetFormat = DatasetFormat.SEED,
    count: Callable[[str], int] | None = None,
) -> GeminiDataset:
    """Stream `source` into Gemini's format at `target_uri`; PlanRejected if Gemini would refuse
    it. What was written, with its tokens."""
    target = DatasetRef.parse(target_uri)
    with (
        storage.open_dataset(source.bucket, source.name, source.generation) as reader,
        storage.writer(target.bucket, target.name) as writer,
    ):
        lines = (line for _, line in read_lines(reader, MAX_LINE_BYTES) if line is not None)
        result = convert_and_check(
            lines, writer.write, kind, role, default_context, model, format, count
        )
    if not result.valid:
        raise PlanRejected(
            [
                Problem(
                    "dataset" if role is DatasetRole.TRAINING else "evaluation_data_uri",
                    str(f.rule),
                    f"{'line ' + str(f.line) + ': ' if f.line else ''}{f.message} (converted for Gemini)",
                )
                for f in result.errors.listed
            ]
        )
    return result


def creation(context: SubmitContext, plan: TuningJobPlan) -> Creation:
    """Without a client-chosen id, a Gemini job is found by its request label."""
    vertex = context.vertex

    def find() -> dict[str, Any] | None:
        found = vertex.find_tuning_jobs(plan.project, plan.region, (REQUEST_LABEL, plan.request_id))
        return found[0] if found else None

    return Creation(
        plan.request_id,
        lambda: (vertex.create_tuning_job(plan.request), True),
        find,
        vertex.get_job,
    )


def progress(job: Mapping[str, Any]) -> Progress:
    """A running job's progress (v1beta1: `tuningJobState`, `tuningJobMetadata`), with the
    epochs it was planned for."""
    meta = job.get("tuningJobMetadata") or {}
    done = meta.get("completedEpochCount")
    spec = job.get("supervisedTuningSpec") or {}
    planned = (spec.get("hyperParameters") or {}).get("epochCount")
    started = job.get("startTime")
    return Progress(
        read=datetime.now(UTC).isoformat(),
        detail=str(job["tuningJobState"]) if job.get("tuningJobState") else None,
        completed_epochs=int(str(done)) if str(done).isdigit() else None,
        epochs=int(str(planned)) if str(planned).isdigit() else None,
        started=started.replace("Z", "+00:00") if isinstance(started, str) else None,
    )


MAX_DROPPED_LISTED = 20


def data_stats(job: Mapping[str, Any]) -> DataStats | None:
    """A job's `tuningDataStats.supervisedTuningDataStats` (aiplatform v1): billable tokens,
    steps, and the examples Google dropped, each with its dataset line and Google's reason.

    The tuning dataset is the converted copy, one example a line in the dataset's order (a
    validated dataset has an example on every line), so Google's 1-based example index is the
    dataset's line number.
    """
    stats = (job.get("tuningDataStats") or {}).get("supervisedTuningDataStats")
    if not isinstance(stats, dict) or not stats:
        return None

    def number(key: str) -> int | None:
        value = stats.get(key)
        return int(value) if isinstance(value, str | int) and str(value).isdigit() else None

    indices = stats.get("truncatedExampleIndices") or []
    reasons = stats.get("droppedExampleReasons") or []
    return DataStats(
        billable_tokens=number("totalBillableTokenCount"),
        tuning_steps=number("tuningStepCount"),
        examples=number("tuningDatasetExampleCount"),
        dropped_examples=number("totalTruncatedExampleCount") or 0,
        dropped=tuple(
            Dropped(int(index), str(reasons[i]) if i < len(reasons) else None)
            for i, index in enumerate(indices[:MAX_DROPPED_LISTED])
            if str(index).isdigit()
        ),
    )
