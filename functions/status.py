"""status: a pipeline job changed state; re-read it and record where its dataset stands.

Trigger: Pub/Sub, the job-events topic that a Cloud Logging sink fills with pipeline job
LogEntries. The entry is only a nudge: the job is read again, and the record only moves forward.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events
from codetune.config import Settings
from codetune.logs import Logger
from codetune.outcomes import record_outcome
from codetune.records import FINAL, job_pointer_name, open_job_name
from codetune.storage import Storage
from codetune.vertex import VertexClient

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
    log = LOG.bind(pointer.get("correlation_id", ""))
    stage, _ = record_outcome(storage, VertexClient(settings.vertex), pointer, "status", log)
    if stage in FINAL:
        storage.delete(settings.bucket, open_job_name(settings.system_prefix, job_event.job_id))
