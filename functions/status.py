"""status: a pipeline job changed state; re-read it and record where its dataset stands.

Trigger: Pub/Sub, the job-events topic that a Cloud Logging sink fills with pipeline job
LogEntries. The entry is only a nudge: the job is read again, and the record only moves forward.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events, logs
from codetune.app.finished import Announcer
from codetune.app.status import job_event
from codetune.config import Settings
from codetune.exceptions import InputError
from codetune.pubsub import Publisher
from codetune.state import RecordStore
from codetune.storage import Storage
from codetune.vertex import VertexClient

logs.setup("status")
LOG = logs.Logger("status")
storage, publisher = Storage(), Publisher()
SETTINGS = Settings.from_environment().deployed()  # a bad setting stops it at start
VERTEX = VertexClient(SETTINGS.vertex)


@functions_framework.cloud_event
def status(event: CloudEvent) -> None:
    with logs.event("status", event.get("traceparent"), SETTINGS.project):
        try:
            job = events.pipeline_job_event(events.pubsub_message(event["type"], event.get_data()))
        except InputError as fault:
            LOG.error("unreadable job event acknowledged and dropped", error=str(fault))
            return
        store = RecordStore.of(storage, SETTINGS)
        stage = job_event(job.job_id, store, VERTEX, LOG, Announcer(publisher, SETTINGS))
        LOG.info("status done", job=job.job_name, stage=stage and str(stage))
