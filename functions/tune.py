"""tune: a dataset was validated; plan its tuning job and submit it exactly once.

Trigger: Pub/Sub, the "dataset validated" topic. Returning acknowledges the message; raising
(a transient Vertex AI failure) makes Pub/Sub deliver it again.
"""

from __future__ import annotations

import os

import functions_framework
from cloudevents.http import CloudEvent

from shared import events
from shared.config import Settings
from shared.dataset import DatasetRole
from shared.exceptions import PermanentVertexError, PlanRejected
from shared.logs import Logger
from shared.messages import DatasetValidated, MessageError
from shared.records import Stage, advance, job_pointer_name, record_name
from shared.storage import Storage
from shared.tuning import DatasetRef, Problem, manifest_name, plan_from_sources
from shared.tuning.sources import parameter_sources
from shared.vertex import VertexClient

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
    try:
        plan = plan_from_sources(
            DatasetRef(dataset.uri, dataset.generation),
            dataset.kind,
            dataset.examples,
            sources,
            problems,
        )
        _check_evaluation_dataset(settings, plan.body["runtimeConfig"]["parameterValues"])
    except PlanRejected as rejected:
        reasons = [p.to_dict() for p in rejected.problems]
        log.error(
            "tuning parameters rejected: no job submitted", dataset=dataset.uri, problems=reasons
        )
        finish(Stage.FAILED, error={"reason": "parameters", "problems": reasons})
        return
    # The pointer first: a status event for this job must find its record even if it comes
    # before the SUBMITTED write below.
    storage.write_json(dataset.bucket, job_pointer_name(settings.system_prefix, plan.job_id),
                       {"record": record, "bucket": dataset.bucket, "job": plan.job_name})  # fmt: skip
    try:
        submission = VertexClient(settings.vertex).create_pipeline_job(plan)
    except PermanentVertexError as refused:
        log.error(
            "Vertex AI refused the job",
            job=plan.job_name,
            status=refused.status,
            error=str(refused),
        )
        finish(Stage.FAILED, job={"name": plan.job_name, "id": plan.job_id},
               error={"reason": "vertex", "status": refused.status, "code": refused.reason, "message": str(refused)})  # fmt: skip
        return
    finish(
        Stage.SUBMITTED,
        job={"name": plan.job_name, "id": plan.job_id, "state": submission.job.get("state")},
        parameters=plan.body["runtimeConfig"]["parameterValues"],
        derived=plan.derived.to_dict(),
        warnings=plan.warnings or None,
    )
    log.info("tuning job submitted" if submission.created else "tuning job already existed",
             job=plan.job_name, template=plan.derived.template, epochs=plan.derived.epochs)  # fmt: skip


def _check_evaluation_dataset(settings: Settings, values: dict[str, object]) -> None:
    """No job from an invalid dataset: the evaluation dataset must have passed validate too."""
    uri = values.get("evaluation_data_uri")
    if not isinstance(uri, str):
        return
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
