"""The legacy backend: the tuning pipeline job of Google's "Tune code models" page
(code-bison, codechat-bison). Vertex AI refuses new jobs for these models since 2024-10-09.

The job id is chosen by us (a digest of the dataset version and the request), so a repeated
create is refused as ALREADY_EXISTS and returns the existing job: exactly once by construction.
A finished job is read the way the Vertex AI SDK's `get_tuned_model` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from codetune.dataset import DatasetFormat, DatasetKind, RuleSet, code_bison
from codetune.dataset.lines import read_lines
from codetune.dataset.rules import MAX_LINE_BYTES, MAX_LISTED_PER_RULE
from codetune.dataset.seed import Inexpressible, to_seed_chat
from codetune.exceptions import NOT_FOUND, PermanentVertexError, PlanRejected, StorageError
from codetune.pipeline import models
from codetune.pipeline.plan import PipelineJobPlan, plan_pipeline_job
from codetune.ports import ObjectStore
from codetune.state import JobPointer, Stage, TunedModel
from codetune.state.records import Curves, DataStats, Progress
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
from codetune.tuning.curves import job_console, now_iso
from codetune.tuning.parameters import Problem, TuningParameters

# PipelineJob states (the aiplatform v1 discovery document). PAUSED and CANCELLING are still on their way somewhere.
STAGES = {
    "PIPELINE_STATE_QUEUED": Stage.QUEUED,
    "PIPELINE_STATE_PENDING": Stage.QUEUED,
    "PIPELINE_STATE_RUNNING": Stage.RUNNING,
    "PIPELINE_STATE_CANCELLING": Stage.RUNNING,
    "PIPELINE_STATE_PAUSED": Stage.RUNNING,
    "PIPELINE_STATE_SUCCEEDED": Stage.SUCCEEDED,
    "PIPELINE_STATE_FAILED": Stage.FAILED,
    "PIPELINE_STATE_CANCELLED": Stage.CANCELLED,
}

UPLOAD_TASKS = ("upload-llm-model", "upload-model")  # older and newer tuning pipelines
MODEL_OUTPUT = "output:model_resource_name"
ENDPOINT_OUTPUT = "output:endpoint_resource_name"


def tuned_model_name(job: Mapping[str, Any]) -> str | None:
    """The tuned model's resource name: the upload task's `output:model_resource_name`, or,
    failing that, that of the single task whose execution is a `system.Run`."""
    tasks = (job.get("jobDetail") or {}).get("taskDetails") or []
    chosen = [t for t in tasks if t.get("taskName") in UPLOAD_TASKS]
    if not chosen:
        runs = [t for t in tasks if (t.get("execution") or {}).get("schemaTitle") == "system.Run"]
        chosen = runs if len(runs) == 1 else []
    for task in chosen:
        name = ((task.get("execution") or {}).get("metadata") or {}).get(MODEL_OUTPUT)
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


def tuned_endpoint_name(job: Mapping[str, Any]) -> str | None:
    """The endpoint the pipeline deployed the model to, when its root task reports one."""
    for task in (job.get("jobDetail") or {}).get("taskDetails") or []:
        name = ((task.get("execution") or {}).get("metadata") or {}).get(ENDPOINT_OUTPUT)
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


class PipelineBackend:
    name = "pipeline"
    # The pipeline reads the seed's formats (S-1); other formats are converted to seed chat.
    formats = frozenset(DatasetFormat)

    def tunes(self, base_model: str) -> bool:
        return base_model in models.BASE_MODELS

    def models(self) -> list[str]:
        return list(models.BASE_MODELS)

    def plan(
        self,
        dataset: DatasetRef,
        kind: DatasetKind,
        examples: int,
        parameters: TuningParameters,
        format: DatasetFormat = DatasetFormat.SEED,
        state_bucket: str | None = None,
    ) -> PipelineJobPlan:
        return plan_pipeline_job(
            dataset, kind, examples, parameters, format, state_bucket=state_bucket
        )

    def submit(self, plan: PipelineJobPlan, context: SubmitContext) -> Submitted:
        values = plan.body["runtimeConfig"]["parameterValues"]
        if context.format is not DatasetFormat.SEED:  # the seed format's copy is the pinned one
            convert_to_seed(context.storage, context.dataset, values["dataset_uri"], context.format)
        if context.evaluation is not None:
            copy(context.storage, context.evaluation, values["evaluation_data_uri"])
        context.admit(None)  # the examples as validated: the pipeline adds default_context itself
        # The pointer first: a status event for this job must find its record even if it comes
        # before the SUBMITTED write.
        context.store.write_pointer(context.pointer(plan.job_name))
        job, created = create_once(context, creation(context, plan))
        return Submitted(job, created)

    def outcome(self, job: Mapping[str, Any]) -> JobOutcome:
        state = str(job.get("state"))
        stage = STAGES.get(state)
        model = tuned_model_name(job) if stage is Stage.SUCCEEDED else None
        return JobOutcome(
            state=state,
            stage=stage,
            tuned_model=TunedModel(model, tuned_endpoint_name(job)) if model else None,
            error=job_error(job) if stage in (Stage.FAILED, Stage.CANCELLED) else None,
            data_stats=metrics(job) if stage is Stage.SUCCEEDED else None,
            progress=progress(job) if stage is Stage.RUNNING else None,
        )

    def rules(self, base_model: str) -> RuleSet:
        return code_bison(base_model)

    def curves(self, vertex: VertexAI, job: Mapping[str, Any]) -> Curves:
        """Not read: the pipeline writes its metrics (S-24) to the deployment's TensorBoard
        under an experiment and run it names itself, which the job does not report."""
        values = (job.get("runtimeConfig") or {}).get("parameterValues") or {}
        where = values.get("tensorboard_resource_id")
        return Curves(
            now_iso(),
            console=job_console(str(job.get("name"))),
            note=(
                f"the pipeline wrote its metrics to TensorBoard {str(where)[:200]}; "
                "open the pipeline run in the console"
                if where
                else "the pipeline was given no TensorBoard: it kept no metrics"
            ),
        )

    def tuned_models(
        self, vertex: VertexAI, project: str, region: str, base_model: str | None
    ) -> list[str]:
        """The Model Registry's models labelled with their base model, as the SDK's
        list_tuned_model_names finds them."""
        if base_model is not None and not self.tunes(base_model):
            return []
        chosen = (
            [models.BASE_MODELS[base_model]] if base_model else list(models.BASE_MODELS.values())
        )
        names: list[str] = []
        for label in dict.fromkeys(base.label_value for base in chosen):
            found = vertex.list_models(project, region, (models.BASE_MODEL_LABEL, label))
            names += [m["name"] for m in found]
        return names

    def listing(self, pointer: JobPointer, state_bucket: str) -> Listing | None:
        """None: a pipeline job is read by `get`. Vertex AI refuses new code-bison jobs, so few
        are ever unfinished, and a pipeline job carries no label the sweep could list by."""
        return None

    def listed(self, vertex: VertexAI, listing: Listing) -> Iterator[list[dict[str, Any]]]:
        return iter(())


def convert_to_seed(
    storage: ObjectStore, source: DatasetRef, target_uri: str, format: DatasetFormat
) -> None:
    """Stream `source` into the seed's code-chat format at `target_uri`; PlanRejected naming
    every line that cannot be expressed in it."""
    target = DatasetRef.parse(target_uri)
    problems: list[Problem] = []
    with (
        storage.open_dataset(source.bucket, source.name, source.generation) as reader,
        storage.writer(target.bucket, target.name) as writer,
    ):
        for number, line in read_lines(reader, MAX_LINE_BYTES):
            if line is None or not bytes(line).strip():
                continue
            try:
                writer.write(orjson.dumps(to_seed_chat(orjson.loads(line), format)) + b"\n")
            except Inexpressible as why:
                if len(problems) < MAX_LISTED_PER_RULE:
                    problems.append(Problem("dataset", "format", f"line {number}: {why}"))
    if problems:
        raise PlanRejected(problems)


def copy(storage: ObjectStore, source: DatasetRef, target_uri: str) -> None:
    """A server-side copy of `source` (a pinned copy: written once, never replaced) to
    `target_uri`, exactly the generation validate pinned when it is known."""
    target = DatasetRef.parse(target_uri)
    generation = source.generation
    if generation is None:
        live = storage.current(source.bucket, source.name)
        generation = live.generation if live else None
    if not generation or not storage.copy(
        source.bucket, source.name, generation, target.bucket, target.name
    ):
        raise StorageError(f"{source.uri}: the pinned copy is not there to copy")


def creation(context: SubmitContext, plan: PipelineJobPlan) -> Creation:
    """A pipeline job has the id the plan chose: found by it, and a create that meets the job
    already there (409 ALREADY_EXISTS) returns it."""
    vertex = context.vertex

    def create() -> tuple[dict[str, Any], bool]:
        submission = vertex.create_pipeline_job(plan.request)
        return submission.job, submission.created

    def find() -> dict[str, Any] | None:
        try:
            return vertex.get_job(plan.job_name)
        except PermanentVertexError as fault:
            if fault.status == NOT_FOUND:
                return None
            raise

    return Creation(plan.job_id, create, find, vertex.get_job, refused_if_exists=True)


# S-24: what a pipeline job reports to TensorBoard (the eval_ metrics with evaluation data).
METRICS = (
    "/train_total_loss",
    "/train_fraction_of_correct_next_step_preds",
    "/train_num_predictions",
    "/eval_total_loss",
    "/eval_fraction_of_correct_next_step_preds",
    "/eval_num_predictions",
)


def metrics(job: Mapping[str, Any]) -> DataStats:
    """Where a finished pipeline job's metrics are (S-24): the TensorBoard instance it wrote
    to, when the deployment named one, and the metrics' names."""
    values = (job.get("runtimeConfig") or {}).get("parameterValues") or {}
    tensorboard = values.get("tensorboard_resource_id")
    return DataStats(tensorboard=tensorboard or None, metrics=tuple(METRICS))


def progress(job: Mapping[str, Any]) -> Progress | None:
    """A running pipeline's progress: the task it runs and the tasks done of those it shows
    (`jobDetail.taskDetails`; the root task, which has no parent, stands for the whole run)."""
    tasks = [
        t for t in (job.get("jobDetail") or {}).get("taskDetails") or [] if isinstance(t, dict)
    ]
    if any(t.get("parentTaskId") for t in tasks):
        tasks = [t for t in tasks if t.get("parentTaskId")]
    if not tasks:
        return None
    running = [str(t.get("taskName")) for t in tasks if t.get("state") == "RUNNING"]
    done = sum(t.get("state") in ("SUCCEEDED", "SKIPPED") for t in tasks)
    started = job.get("startTime")
    return Progress(
        read=datetime.now(UTC).isoformat(),
        started=started.replace("Z", "+00:00") if isinstance(started, str) else None,
        task=", ".join(running) if running else None,
        completed_tasks=done,
        tasks=len(tasks),
    )
