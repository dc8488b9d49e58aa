"""validate: a dataset lands in the bucket; check it, report beside it, announce it if valid.

Trigger: Eventarc, google.cloud.storage.object.v1.finalized on the upload bucket.
"""

from __future__ import annotations

import os

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events, logs
from codetune.app.validate import validate_upload
from codetune.config import Settings
from codetune.exceptions import EventError
from codetune.pubsub import Publisher
from codetune.storage import Storage

logs.setup("validate")
LOG = logs.Logger("validate")
storage, publisher = Storage(), Publisher()
SETTINGS = Settings.from_environment().deployed()  # a bad setting stops it at start


@functions_framework.cloud_event
def validate(event: CloudEvent) -> None:
    traceparent = event.get("traceparent")
    with logs.event("validate", traceparent, SETTINGS.project):
        try:
            obj = events.storage_object(event["type"], event.get_data())
        except EventError as fault:
            LOG.error("unreadable event acknowledged and dropped", error=str(fault))
            return
        with LOG.bound(logs.correlation_id(obj.uri, obj.generation)) as log:
            outcome = validate_upload(
                obj, storage, publisher, SETTINGS, log, traceparent, os.environ
            )
            log.info(
                "validate done", outcome=str(outcome), dataset=obj.uri, generation=obj.generation
            )
