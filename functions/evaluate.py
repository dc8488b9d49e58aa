"""evaluate: a tuning job succeeded with an evaluation planned; answer its evaluation examples
on the tuned model and its base, score them, and record the verdict (docs/evaluation.md).

Trigger: Pub/Sub, the evaluation topic (status and the sweep publish to it). Returning
acknowledges the message; raising (answers left for want of time, Vertex AI throttling past
the retries, a storage failure) makes Pub/Sub deliver it again, and the answers stored so far
are not asked for again.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events, logs
from codetune.app.evaluate import evaluate as evaluate_version
from codetune.app.finished import Announcer
from codetune.config import Settings
from codetune.exceptions import InputError
from codetune.messages import EvaluationRequested
from codetune.pubsub import Publisher
from codetune.state import RecordStore
from codetune.storage import Storage
from codetune.vertex import VertexClient

logs.setup("evaluate")
LOG = logs.Logger("evaluate")
storage, publisher = Storage(), Publisher()
SETTINGS = Settings.from_environment().deployed()  # a bad setting stops it at start
VERTEX = VertexClient(SETTINGS.vertex)


@functions_framework.cloud_event
def evaluate(event: CloudEvent) -> None:
    with logs.event("evaluate", event.get("traceparent"), SETTINGS.project):
        try:
            message = events.pubsub_message(event["type"], event.get_data())
            request = EvaluationRequested.decode(message.data, message.attributes)
        except InputError as fault:
            LOG.error("unreadable message acknowledged and dropped", error=str(fault))
            return
    with (
        logs.event("evaluate", request.traceparent or event.get("traceparent"), SETTINGS.project),
        LOG.bound(request.correlation_id) as log,
    ):
        store = RecordStore.of(storage, SETTINGS)
        outcome = evaluate_version(
            request, store, VERTEX, SETTINGS, log, Announcer(publisher, SETTINGS)
        )
        log.info("evaluate done", outcome=str(outcome), dataset=request.uri)
