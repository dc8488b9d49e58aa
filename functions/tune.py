"""tune: a dataset was validated; plan its tuning job and submit it exactly once.

Trigger: Pub/Sub, the "dataset validated" topic. Returning acknowledges the message; raising
(a transient Vertex AI failure) makes Pub/Sub deliver it again. A code-bison base model gets
the tuning pipeline job; a Gemini base model gets a supervised tuning job on the dataset
converted to Gemini's format.
"""

from __future__ import annotations

import os
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events
from codetune.config import Settings
from codetune.dataset import DatasetRole
from codetune.exceptions import PermanentVertexError, PlanRejected
from codetune.gemini import submit as gemini
from codetune.gemini.plan import TuningJobPlan
from codetune.logs import Logger
from codetune.messages import DatasetValidated, MessageError
from codetune.records import Stage, advance, job_pointer_name, open_job_name, record_name
from codetune.storage import Storage
from codetune.tuning import DatasetRef, PipelineJobPlan, Problem, manifest_name, plan_from_sources
from codetune.tuning.sources import parameter_sources
from codetune.vertex import VertexClient

LOG = Logger("tune")
storage = Storage()


@functions_framework.cloud_event
def tune(event: CloudEvent) -> None:
    settings = Settings.from_environment()
    try:
        message = events.pubsub_message(event["type"], event.get_data())
        dataset = DatasetValidated.decode(message.data, message.attributes)
    except (events.EventError, MessageError) as fault:
        LOG.error("unreadable message acknowledged and dropped", error=str(fault))
        return
    log = LOG.bind(dataset.correlation_id)
    if dataset.role is DatasetRole.EVALUATION:
        log.info("evaluation dataset: tuned only with its training dataset", dataset=dataset.uri)
        return
    record = record_name(settings.system_prefix, dataset.name, dataset.generation)

    def finish(stage: Stage, **fields: object) -> None:
        storage.update_json(
            dataset.bucket, record, lambda current: advance(current, stage, "tune", **fields)
        )

    manifest = storage.read_bytes(dataset.bucket, manifest_name(dataset.name))
    sources, problems = parameter_sources(os.environ, dataset.uri, manifest, dataset.metadata)
    vertex = VertexClient(settings.vertex)
    try:
        plan = plan_from_sources(
            DatasetRef(dataset.uri, dataset.generation),
            dataset.kind,
            dataset.examples,
            sources,
            problems,
        )
        evaluation = _evaluation_dataset(settings, plan)
        if isinstance(plan, TuningJobPlan):
            job, created = _submit_tuning_job(settings, dataset, plan, evaluation, vertex)
        else:
            job, created = _submit_pipeline_job(settings, dataset, plan, vertex)
    except PlanRejected as rejected:
        reasons = [p.to_dict() for p in rejected.problems]
        log.error(
            "tuning parameters or data rejected: no job submitted",
            dataset=dataset.uri,
            problems=reasons,
        )
        finish(Stage.FAILED, error={"reason": "parameters", "problems": reasons})
        return
    except PermanentVertexError as refused:
        log.error("Vertex AI refused the job", status=refused.status, error=str(refused))
        finish(Stage.FAILED, error={"reason": "vertex", "status": refused.status, "code": refused.reason,
                                    "message": str(refused)})  # fmt: skip
        return
    job_id = job["name"].rpartition("/")[2]
    pointer = _pointer(settings, dataset, job["name"])
    if isinstance(plan, TuningJobPlan):  # a pipeline job's pointer was written before it existed
        storage.write_json(
            dataset.bucket, job_pointer_name(settings.system_prefix, job_id), pointer
        )
    storage.write_json(
        dataset.bucket, open_job_name(settings.system_prefix, job_id), pointer
    )  # for the sweep
    derived = plan.to_dict()["derived"]
    finish(Stage.SUBMITTED, job={"name": job["name"], "id": job_id, "state": job.get("state")},
           parameters=plan.body, derived=derived, warnings=plan.warnings or None)  # fmt: skip
    log.info("tuning job submitted" if created else "tuning job already existed", job=job["name"],
             base_model=derived.get("base_model") or plan.body.get("runtimeConfig", {}).get("parameterValues", {}).get("large_model_reference"))  # fmt: skip


def _pointer(settings: Settings, dataset: DatasetValidated, job_name: str) -> dict[str, str]:
    """Where a job's record is: read by status (by job id) and the sweep (unfinished jobs)."""
    return {
        "record": record_name(settings.system_prefix, dataset.name, dataset.generation),
        "bucket": dataset.bucket,
        "job": job_name,
        "correlation_id": dataset.correlation_id,
    }


def _submit_pipeline_job(
    settings: Settings, dataset: DatasetValidated, plan: PipelineJobPlan, vertex: VertexClient
) -> tuple[dict[str, Any], bool]:
    # The pointer first: a status event for this job must find its record even if it comes
    # before the SUBMITTED write.
    pointer = _pointer(settings, dataset, plan.job_name)
    storage.write_json(
        dataset.bucket, job_pointer_name(settings.system_prefix, plan.job_id), pointer
    )
    submission = vertex.create_pipeline_job(plan)
    return submission.job, submission.created


def _submit_tuning_job(
    settings: Settings, dataset: DatasetValidated, plan: TuningJobPlan,
    evaluation: DatasetRef | None, vertex: VertexClient,
) -> tuple[dict[str, Any], bool]:  # fmt: skip
    context = plan.derived.get("default_context")
    gemini.convert(storage, DatasetRef(dataset.uri, dataset.generation), plan.derived["training_dataset_uri"],
                   dataset.kind, DatasetRole.TRAINING, context)  # fmt: skip
    if evaluation is not None:
        gemini.convert(storage, evaluation, plan.derived["validation_dataset_uri"], dataset.kind,
                       DatasetRole.EVALUATION, context)  # fmt: skip
    return gemini.submit(storage, vertex, plan, dataset.bucket, settings.system_prefix)


def _evaluation_dataset(
    settings: Settings, plan: PipelineJobPlan | TuningJobPlan
) -> DatasetRef | None:
    """No job from an invalid dataset: the evaluation dataset must have passed validate too."""
    uri = (plan.derived.get("evaluation_source_uri") if isinstance(plan, TuningJobPlan)
           else plan.body["runtimeConfig"]["parameterValues"].get("evaluation_data_uri"))  # fmt: skip
    if not isinstance(uri, str):
        return None
    ref = DatasetRef.parse(uri)
    live = storage.current(ref.bucket, ref.name)
    record = None
    if live is not None:
        record, _ = storage.read_json(
            ref.bucket, record_name(settings.system_prefix, ref.name, str(live.generation))
        )
    if (
        record is None
        or record.get("state") != Stage.VALIDATED
        or record.get("role") != DatasetRole.EVALUATION
    ):
        state = "missing" if live is None else (record or {}).get("state", "not validated yet")
        raise PlanRejected([Problem("evaluation_data_uri", "S-5",
                                    f"the evaluation dataset must be uploaded (as *.eval.jsonl) and valid first: {state}")])  # fmt: skip
    return DatasetRef(ref.uri, str(live.generation) if live is not None else None)
