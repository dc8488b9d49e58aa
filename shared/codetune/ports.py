"""The collaborators the application layer is handed, as Protocols: Cloud Storage and Pub/Sub
(Vertex AI's is beside the backends, codetune.tuning.backends.base). The real clients
(storage.py, pubsub.py) and the tests' in-memory fakes both satisfy them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any, Protocol

import msgspec


class ObjectVersion(msgspec.Struct, frozen=True):
    """An object's live version."""

    generation: str
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    updated: datetime | None = None  # when this version was written


class ListedObject(msgspec.Struct, frozen=True):
    """One object as a listing returns it: no read of its contents needed."""

    name: str
    generation: str
    updated: datetime | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class ObjectStore(Protocol):
    def current(self, bucket: str, name: str) -> ObjectVersion | None: ...

    def open_dataset(self, bucket: str, name: str, generation: str | None) -> IO[bytes]: ...

    def writer(self, bucket: str, name: str, content_type: str | None = None) -> IO[bytes]: ...

    def read_bytes(self, bucket: str, name: str, max_bytes: int | None = None) -> bytes | None:
        """The object's bytes (None if absent); at most `max_bytes` + 1 of them, so that a
        caller can tell a too-large object without reading it whole."""
        ...

    def read_json(self, bucket: str, name: str) -> tuple[dict[str, Any] | None, int]: ...

    def write_json(
        self,
        bucket: str,
        name: str,
        document: Any,
        if_generation_match: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> bool:
        """Write; with a precondition (0: must not exist), False when another writer was
        first. `metadata` becomes the object's custom metadata, which a listing returns."""
        ...

    def update_json(
        self,
        bucket: str,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        metadata: Callable[[dict[str, Any]], dict[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """Read-modify-write under a generation precondition; `metadata` derives the object's
        custom metadata from the document written."""
        ...

    def delete(self, bucket: str, name: str) -> None: ...

    def copy(
        self, bucket: str, name: str, generation: str, target_bucket: str, target: str
    ) -> str | None:
        """Copy exactly that generation to `target` in `target_bucket`, server-side, unless
        `target` exists (a copy is made once, never replaced); the target's generation, or None
        if that generation is no longer there."""
        ...

    def list_objects(
        self, bucket: str, prefix: str, start: str = "", end: str = "", limit: int | None = None
    ) -> Iterator[ListedObject]:
        """Every live object under `prefix`, in name order, read in pages (never one request
        per object); only names from `start` and before `end` when given (objects.list's
        startOffset, endOffset), at most `limit` of them."""
        ...


class Publisher(Protocol):
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str: ...


class JobRequest(msgspec.Struct, frozen=True):
    """A job's create request as Vertex AI takes it, whatever planned it: the region (its
    host), the collection's path, the body, and for a pipeline the client-chosen id."""

    region: str
    path: str  # /v1/projects/P/locations/REGION/(tuningJobs|pipelineJobs)
    body: dict[str, Any]
    job_id: str | None = None  # pipelineJobId

    @property
    def job_name(self) -> str | None:
        """The name the job will have, when the client chooses its id."""
        return f"{self.path.removeprefix('/v1/')}/{self.job_id}" if self.job_id else None


class Submission(msgspec.Struct, frozen=True):
    job: dict[str, Any]  # the job resource as Vertex AI returned it
    created: bool  # False: the job already existed (a repeated submission)
