"""announce: tell the completion topic that a dataset version has ended, once in practice.

Whoever moves a record to an end (validate, tune, status, the sweep) announces it; the sweep
also announces every ended record that was not (a crash between the write and the publish).
Two announcers of the same end race on the record: the first to claim it publishes, and the
record keeps the message id, so the others stand down. A claim left by an announcer that died
is taken over after the claim timeout: delivery is at least once, and the message's
`finished_id` lets a subscriber drop the rare repeat.
"""

from __future__ import annotations

import msgspec

from codetune.config import Settings
from codetune.finished import DatasetFinished
from codetune.logs import Logger
from codetune.messages import EvaluationRequested
from codetune.ports import Publisher
from codetune.state import FINAL, Record, RecordStore, Stage
from codetune.state.once import Held, once
from codetune.state.store import RecordClaims


def announce(
    dataset: str,
    generation: str,
    store: RecordStore,
    publisher: Publisher,
    settings: Settings,
    log: Logger,
) -> str | None:
    """Publish the version's "dataset finished" message unless it was (or is being) published;
    the message id, or None when there was nothing to do."""
    claims = RecordClaims(store, dataset, generation)
    claims.read()
    if claims.record is None or claims.record.state not in FINAL:
        return None

    def publish() -> str:
        assert claims.record is not None  # the record as claimed
        data, attributes = DatasetFinished(claims.record).encode()
        return publisher.publish(settings.finished_topic_path, data, attributes)

    try:
        # Any failure to publish frees the claim: the next announcer (a redelivery, the sweep)
        # publishes it.
        message_id, published = once(
            claims, publish, settings.claim_timeout_seconds, released_by=(Exception,)
        )
    except Held:
        return None  # another announcer may still be at it
    if not published:
        return None
    ended = claims.record
    log.info(
        "dataset finished: announced",
        dataset=ended.dataset if ended else dataset,
        stage=str(ended.state) if ended else None,
        topic=settings.finished_topic_path,
        message_id=message_id,
    )
    return message_id


def request_evaluation(
    store: RecordStore,
    dataset: str,
    record: Record,
    publisher: Publisher,
    settings: Settings,
    log: Logger,
) -> str | None:
    """Ask the evaluate function to evaluate an EVALUATING version (a nudge: the record says
    what; a repeat is harmless); the message id."""
    if record.state is not Stage.EVALUATING or record.generation is None:
        return None
    request = EvaluationRequested(
        store.uploads, dataset, record.generation, record.correlation_id or "", record.traceparent
    )
    data, attributes = request.encode()
    message_id = publisher.publish(settings.evaluation_topic_path, data, attributes)
    log.info("evaluation requested", dataset=record.dataset, message_id=message_id)
    return message_id


class Announcer(msgspec.Struct, frozen=True):
    """What a function hands the application layer to announce ends with."""

    publisher: Publisher
    settings: Settings

    def __call__(self, store: RecordStore, dataset: str, generation: str, log: Logger) -> None:
        announce(dataset, generation, store, self.publisher, self.settings, log)

    def evaluate(self, store: RecordStore, dataset: str, record: Record, log: Logger) -> None:
        request_evaluation(store, dataset, record, self.publisher, self.settings, log)
