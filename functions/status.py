"""status: a pipeline job changed state; re-read it and record where its dataset stands.

Trigger: Pub/Sub, the job-events topic that a Cloud Logging sink fills with pipeline job
LogEntries. The entry is only a nudge: the job is read again, and the record only moves forward.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared import events, jobs
from shared.config import Settings
from shared.logs import Logger
from shared.records import PIPELINE_STAGES, Stage, advance, job_pointer_name
from shared.storage import Storage
from shared.vertex import VertexClient

LOG = Logger("status")
storage = Storage()


@functions_framework.cloud_event
def status(event: CloudEvent) -> None:
    settings = Settings.from_environment()
    try:
        job_event = events.pipeline_job_event(
            events.pubsub_message(event["type"], event.get_data())
        )
    except events.EventError as fault:
        LOG.error("unreadable job event acknowledged and dropped", error=str(fault))
        return
    pointer, _ = storage.read_json(
        settings.bucket, job_pointer_name(settings.system_prefix, job_event.job_id)
    )
    if pointer is None:
        LOG.info("not a codetune job: ignored", job=job_event.job_name)
        return
    job = VertexClient(settings.vertex).get_pipeline_job(job_event.job_name)
    stage = PIPELINE_STAGES.get(str(job.get("state")))
    if stage is None:
        LOG.warning(
            "job in a state with no record stage", job=job_event.job_name, state=job.get("state")
        )
        return
    model = jobs.tuned_model_name(job) if stage is Stage.SUCCEEDED else None
    record, _ = storage.read_json(pointer["bucket"], pointer["record"])
    log = LOG.bind((record or {}).get("correlation_id", "")) if record else LOG
    if stage is Stage.SUCCEEDED and model is None:
        log.error("job succeeded but names no tuned model", job=job_event.job_name)
    written = storage.update_json(
        pointer["bucket"],
        pointer["record"],
        lambda current: advance(
            current, stage, "status",
            job={"name": job_event.job_name, "id": job_event.job_id, "state": job.get("state")},
            tuned_model={"model": model, "endpoint": jobs.tuned_endpoint_name(job)} if model else None,
            error=jobs.job_error(job) if stage in (Stage.FAILED, Stage.CANCELLED) else None,
        ),
    )  # fmt: skip
    if written is None:
        log.info(
            "older or repeated job event: record unchanged",
            job=job_event.job_name,
            state=job.get("state"),
        )
    elif stage is Stage.SUCCEEDED:
        log.info("tuned model ready", job=job_event.job_name, tuned_model=model)
    elif stage in (Stage.FAILED, Stage.CANCELLED):
        log.error("tuning job ended without a model", job=job_event.job_name, state=job.get("state"),
                  error=jobs.job_error(job))  # fmt: skip
    else:
        log.info("tuning job progressed", job=job_event.job_name, state=job.get("state"))
