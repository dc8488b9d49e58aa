"""tune: a dataset was validated; plan its tuning job and submit it exactly once. And a cancel
was asked (`codetune cancel`): stop that version's job, or make sure none is created.

Trigger: Pub/Sub, the "dataset validated" topic (both kinds of message, told apart by their
`type` attribute). Returning acknowledges the message; raising (a transient Vertex AI or
storage failure) makes Pub/Sub deliver it again.
"""

from __future__ import annotations

import os

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events, logs
from codetune.app.cancel import cancel_dataset
from codetune.app.finished import Announcer
from codetune.app.tune import tune_dataset
from codetune.config import Settings
from codetune.exceptions import InputError
from codetune.messages import CANCEL_TYPE, CancelRequested, DatasetValidated
from codetune.pubsub import Publisher
from codetune.storage import Storage
from codetune.vertex import VertexClient

logs.setup("tune")
LOG = logs.Logger("tune")
storage, publisher = Storage(), Publisher()
SETTINGS = Settings.from_environment().deployed()  # a bad setting stops it at start
VERTEX = VertexClient(SETTINGS.vertex)


@functions_framework.cloud_event
def tune(event: CloudEvent) -> None:
    with logs.event("tune", event.get("traceparent"), SETTINGS.project):
        try:
            message = events.pubsub_message(event["type"], event.get_data())
            if message.attributes.get("type") == CANCEL_TYPE:
                request = CancelRequested.decode(message.data, message.attributes)
                correlation = logs.correlation_id(request.uri, request.generation)
                with LOG.bound(correlation) as log:
                    cancelled = cancel_dataset(request, storage, VERTEX, SETTINGS, log)
                    log.info("cancel done", outcome=str(cancelled), dataset=request.uri)
                return
            dataset = DatasetValidated.decode(message.data, message.attributes)
        except InputError as fault:
            LOG.error("unreadable message acknowledged and dropped", error=str(fault))
            return
    # The upload's trace, which the message carries on.
    with (
        logs.event("tune", dataset.traceparent or event.get("traceparent"), SETTINGS.project),
        LOG.bound(dataset.correlation_id) as log,
    ):
        outcome = tune_dataset(
            dataset, storage, VERTEX, SETTINGS, os.environ, log, Announcer(publisher, SETTINGS)
        )
        log.info(
            "tune done", outcome=str(outcome), dataset=dataset.uri, generation=dataset.generation
        )
