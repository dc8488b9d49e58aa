"""announce: tell the completion topic that a dataset version has ended, once in practice.

Whoever moves a record to an end (validate, tune, status, the sweep) announces it; the sweep
also announces every ended record that was not (a crash between the write and the publish).
Two announcers of the same end race on the record: the first to claim it publishes, and the
record keeps the message id, so the others stand down. A claim left by an announcer that died
is taken over after the claim timeout: delivery is at least once, and the message's
`finished_id` lets a subscriber drop the rare repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from codetune.config import Settings
from codetune.finished import DatasetFinished
from codetune.logs import Logger
from codetune.ports import Publisher
from codetune.state import FINAL, Record, RecordStore


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
    now = datetime.now(UTC)

    def claim(current: Record | None) -> Record | None:
        if current is None or current.state not in FINAL or not _due(current, now, settings):
            return None
        return msgspec.structs.replace(current, announced={"claimed": now.isoformat()})

    claimed = store.update(dataset, generation, claim)
    if claimed is None:
        return None
    data, attributes = DatasetFinished(claimed).encode()
    try:
        message_id = publisher.publish(settings.finished_topic_path, data, attributes)
    except Exception:
        # Free the claim: the next announcer (a redelivery, the sweep) publishes it.
        store.update(dataset, generation, lambda r: _released(r, claimed.announced))
        raise
    store.update(
        dataset,
        generation,
        lambda r: (
            None
            if r is None
            else msgspec.structs.replace(
                r, announced={"message_id": message_id, "time": datetime.now(UTC).isoformat()}
            )
        ),
    )
    log.info(
        "dataset finished: announced",
        dataset=claimed.dataset,
        stage=str(claimed.state),
        topic=settings.finished_topic_path,
        message_id=message_id,
    )
    return message_id


def _due(record: Record, now: datetime, settings: Settings) -> bool:
    """Not announced, nor claimed by an announcer that may still be at it."""
    announced = record.announced or {}
    if announced.get("message_id"):
        return False
    claimed = announced.get("claimed")
    if claimed is None:
        return True
    age = (now - datetime.fromisoformat(claimed)).total_seconds()
    return age >= settings.claim_timeout_seconds


def _released(record: Record | None, claim: object) -> Record | None:
    if record is None or record.announced != claim:
        return None
    return msgspec.structs.replace(record, announced=None)


class Announcer(msgspec.Struct, frozen=True):
    """What a function hands the application layer to announce ends with."""

    publisher: Publisher
    settings: Settings

    def __call__(self, store: RecordStore, dataset: str, generation: str, log: Logger) -> None:
        announce(dataset, generation, store, self.publisher, self.settings, log)
