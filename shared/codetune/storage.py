"""Cloud Storage I/O for the functions: stream a dataset, read settings, write reports and records.

With STORAGE_EMULATOR_HOST set (a local fake-gcs-server), the client talks to it without
credentials, as google-cloud-storage's own emulator support expects.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson
from google.api_core.exceptions import NotFound, PreconditionFailed
from google.cloud import storage

from codetune.exceptions import StorageError
from codetune.ports import ListedObject, ObjectVersion

MAX_UPDATE_ATTEMPTS = 8
# Each chunk is one ranged GET. Validating a 67 MB dataset read in 8 MiB chunks cost 2.1x the
# CPU of reading it from disk, in 1 MiB chunks 2.8x (benchmarks/bench_read_chunks.py); 16 MiB
# gained nothing more. The function has 1 GiB: one chunk in memory at a time.
READ_CHUNK = 8 * 1024 * 1024


class Storage:
    def __init__(self, client: storage.Client | None = None) -> None:
        self._client = client

    @property
    def client(self) -> storage.Client:
        if self._client is None:
            if os.environ.get("STORAGE_EMULATOR_HOST"):
                from google.auth.credentials import AnonymousCredentials

                project = os.environ.get("CODETUNE_PROJECT", "local")
                self._client = storage.Client(project=project, credentials=AnonymousCredentials())
            else:
                self._client = storage.Client()
        return self._client

    def blob(self, bucket: str, name: str, generation: str | int | None = None) -> storage.Blob:
        return self.client.bucket(bucket).blob(
            name, generation=int(generation) if generation else None
        )

    def current(self, bucket: str, name: str) -> ObjectVersion | None:
        """The object's live version with its metadata, or None if it is gone."""
        blob = self.client.bucket(bucket).get_blob(name)
        if blob is None:
            return None
        return ObjectVersion(str(blob.generation), dict(blob.metadata or {}), blob.updated)

    def open_dataset(self, bucket: str, name: str, generation: str | None) -> IO[bytes]:
        """A reader of exactly that version, streamed in chunks (never loaded whole)."""
        reader: IO[bytes] = self.blob(bucket, name, generation).open("rb", chunk_size=READ_CHUNK)
        return reader

    def read_bytes(self, bucket: str, name: str, max_bytes: int | None = None) -> bytes | None:
        end = None if max_bytes is None else max_bytes  # inclusive: max_bytes + 1 bytes
        try:
            data: bytes = self.blob(bucket, name).download_as_bytes(start=0, end=end)
        except NotFound:
            return None
        return data

    def read_json(self, bucket: str, name: str) -> tuple[dict[str, Any] | None, int]:
        """The document and its generation; (None, 0) when there is none."""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            blob = self.client.bucket(bucket).get_blob(name)
            if blob is None:
                return None, 0
            try:
                data = blob.download_as_bytes(if_generation_match=blob.generation)
            except (NotFound, PreconditionFailed):
                continue  # replaced between the two calls: read again
            return orjson.loads(data), int(blob.generation)
        raise StorageError(f"gs://{bucket}/{name}: replaced on every read")

    def write_json(
        self,
        bucket: str,
        name: str,
        document: Any,
        if_generation_match: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> bool:
        """Write; with a precondition (0: must not exist), False when another writer was first."""
        blob = self.blob(bucket, name)
        if metadata:
            blob.metadata = metadata
        try:
            blob.upload_from_string(
                orjson.dumps(document, option=orjson.OPT_INDENT_2),
                content_type="application/json",
                if_generation_match=if_generation_match,
            )
        except PreconditionFailed:
            return False
        return True

    def delete(self, bucket: str, name: str) -> None:
        """Delete if present (deleting twice is fine)."""
        with contextlib.suppress(NotFound):
            self.blob(bucket, name).delete()

    def copy(
        self, bucket: str, name: str, generation: str, target_bucket: str, target: str
    ) -> str | None:
        """A server-side copy of exactly that generation (sourceGeneration), made only if the
        target does not exist; the target's generation. objects.rewrite, in as many calls as
        Cloud Storage takes: unlike objects.copy it never times out on a large object copied
        across locations or storage classes."""
        # Looked for first as well: the storage emulator ignores the copy's precondition.
        existing = self.current(target_bucket, target)
        if existing is not None:
            return existing.generation
        source = self.blob(bucket, name, generation)
        destination = self.client.bucket(target_bucket).blob(target)
        token: str | None = None
        try:
            while True:
                token, _, _ = destination.rewrite(source, token=token, if_generation_match=0)
                if token is None:
                    break
        except NotFound:
            live = self.current(bucket, name)
            if live is not None and live.generation == str(generation):
                raise StorageError(f"gs://{target_bucket}: no such bucket to copy into") from None
            return None  # that generation is gone: replaced meanwhile
        except PreconditionFailed:  # copied meanwhile (a repeated event): that copy stands
            existing = self.current(target_bucket, target)
            return existing.generation if existing else None
        return str(destination.generation)

    def list_objects(
        self, bucket: str, prefix: str, start: str = "", end: str = "", limit: int | None = None
    ) -> Iterator[ListedObject]:
        """objects.list pages (up to 1,000 objects each) carry generation, update time and
        custom metadata: no request per object."""
        for blob in self.client.list_blobs(
            bucket,
            prefix=prefix,
            start_offset=start or None,
            end_offset=end or None,
            max_results=limit,
        ):
            yield ListedObject(
                blob.name, str(blob.generation), blob.updated, dict(blob.metadata or {})
            )

    def writer(self, bucket: str, name: str, content_type: str | None = None) -> IO[bytes]:
        """A streaming writer of a new object (resumable upload in chunks)."""
        options = {"content_type": content_type} if content_type else {}
        writer: IO[bytes] = self.blob(bucket, name).open(
            "wb", chunk_size=4 * 1024 * 1024, **options
        )
        return writer

    def update_json(
        self,
        bucket: str,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        metadata: Callable[[dict[str, Any]], dict[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """Read-modify-write under a generation precondition; `change` returns None to leave the
        document as it is. Returns the document written, or None if nothing was written."""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current, generation = self.read_json(bucket, name)
            updated = change(current)
            if updated is None:
                return None
            tags = metadata(updated) if metadata else None
            if self.write_json(bucket, name, updated, generation, tags):
                return updated
        raise StorageError(f"gs://{bucket}/{name}: too many concurrent writers")
