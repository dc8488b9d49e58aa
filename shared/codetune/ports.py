"""The collaborators the application layer is handed, as Protocols: Cloud Storage and Pub/Sub
(Vertex AI's is beside the backends, codetune.tuning.backends.base). The real clients
(storage.py, pubsub.py) and the tests' in-memory fakes both satisfy them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """An object's live version."""

    generation: str
    metadata: dict[str, str] = field(default_factory=dict)
    updated: datetime | None = None  # when this version was written


class ObjectStore(Protocol):
    def current(self, bucket: str, name: str) -> ObjectVersion | None: ...

    def open_dataset(self, bucket: str, name: str, generation: str | None) -> IO[bytes]: ...

    def writer(self, bucket: str, name: str) -> IO[bytes]: ...

    def read_bytes(self, bucket: str, name: str, max_bytes: int | None = None) -> bytes | None:
        """The object's bytes (None if absent); at most `max_bytes` + 1 of them, so that a
        caller can tell a too-large object without reading it whole."""
        ...

    def read_json(self, bucket: str, name: str) -> tuple[dict[str, Any] | None, int]: ...

    def write_json(
        self, bucket: str, name: str, document: Any, if_generation_match: int | None = None
    ) -> bool: ...

    def update_json(
        self,
        bucket: str,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    ) -> dict[str, Any] | None: ...

    def delete(self, bucket: str, name: str) -> None: ...

    def copy(self, bucket: str, name: str, generation: str, target: str) -> bool:
        """Copy exactly that generation to `target` in the same bucket, server-side; False if
        that generation is no longer there."""
        ...

    def list_names(self, bucket: str, prefix: str) -> list[str]: ...


class Publisher(Protocol):
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str: ...


@dataclass(frozen=True, slots=True)
class Submission:
    job: dict[str, Any]  # the job resource as Vertex AI returned it
    created: bool  # False: the job already existed (a repeated submission)
