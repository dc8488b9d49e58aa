"""In-memory stand-ins for the application layer's collaborators (codetune.ports): Cloud
Storage with generations and preconditions, a Pub/Sub publisher, and Vertex AI."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from codetune.exceptions import PublishError
from codetune.ports import JobRequest, ListedObject, ObjectVersion, Submission

_generations = itertools.count(1_700_000_000_000_001)


class MemoryStorage:
    """Objects by (bucket, name), the live generation only (a bucket without versioning), with
    Cloud Storage's preconditions."""

    def __init__(self) -> None:
        self.live: dict[tuple[str, str], tuple[int, bytes, dict[str, str]]] = {}
        self.written: dict[tuple[str, str], datetime] = {}
        self.listings = 0  # list_objects calls
        self.json_reads = 0  # read_json calls: what a sweep pays per object

    def put(
        self, bucket: str, name: str, data: bytes, metadata: dict[str, str] | None = None
    ) -> str:
        generation = next(_generations)
        self.live[bucket, name] = (generation, data, dict(metadata or {}))
        self.written[bucket, name] = datetime.now(UTC)
        return str(generation)

    def current(self, bucket: str, name: str) -> ObjectVersion | None:
        if (bucket, name) not in self.live:
            return None
        generation, _, metadata = self.live[bucket, name]
        return ObjectVersion(str(generation), dict(metadata), self.written[bucket, name])

    def open_dataset(self, bucket: str, name: str, generation: str | None) -> IO[bytes]:
        live = self.live.get((bucket, name))
        if live is None or (generation is not None and str(live[0]) != generation):
            # A bucket without object versioning keeps only the live generation.
            from google.api_core.exceptions import NotFound

            raise NotFound(f"gs://{bucket}/{name}#{generation}")
        return io.BytesIO(live[1])

    def writer(self, bucket: str, name: str, content_type: str | None = None) -> IO[bytes]:
        storage = self

        class Writer(io.BytesIO):
            def close(self) -> None:
                if not self.closed:
                    storage.put(bucket, name, self.getvalue())
                super().close()

        return Writer()

    def read_bytes(self, bucket: str, name: str, max_bytes: int | None = None) -> bytes | None:
        found = self.live.get((bucket, name))
        if found is None:
            return None
        return found[1] if max_bytes is None else found[1][: max_bytes + 1]

    def read_json(self, bucket: str, name: str) -> tuple[dict[str, Any] | None, int]:
        self.json_reads += 1
        found = self.live.get((bucket, name))
        return (None, 0) if found is None else (orjson.loads(found[1]), found[0])

    def write_json(
        self,
        bucket: str,
        name: str,
        document: Any,
        if_generation_match: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> bool:
        if if_generation_match is not None:
            current = self.live.get((bucket, name), (0, b"", {}))[0]
            if current != if_generation_match:
                return False
        self.put(bucket, name, orjson.dumps(document), metadata)
        return True

    def update_json(
        self,
        bucket: str,
        name: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        metadata: Callable[[dict[str, Any]], dict[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        current, generation = self.read_json(bucket, name)
        updated = change(current)
        if updated is None:
            return None
        tags = metadata(updated) if metadata else None
        assert self.write_json(bucket, name, updated, generation, tags)
        return updated

    def delete(self, bucket: str, name: str) -> None:
        self.live.pop((bucket, name), None)

    def copy(
        self, bucket: str, name: str, generation: str, target_bucket: str, target: str
    ) -> str | None:
        # Like a bucket without object versioning: only the live generation can be copied.
        live = self.live.get((bucket, name))
        if live is None or str(live[0]) != generation:
            return None
        existing = self.live.get((target_bucket, target))
        if existing is not None:  # ifGenerationMatch=0: a copy is made once
            return str(existing[0])
        return self.put(target_bucket, target, live[1])

    def list_objects(
        self, bucket: str, prefix: str, start: str = "", end: str = "", limit: int | None = None
    ) -> Iterator[ListedObject]:
        self.listings += 1
        names = [n for n in self.list_names(bucket, prefix) if n >= start and (not end or n < end)]
        for name in names[:limit]:
            generation, _, metadata = self.live[bucket, name]
            yield ListedObject(name, str(generation), self.written[bucket, name], dict(metadata))

    def list_names(self, bucket: str, prefix: str) -> list[str]:
        return sorted(n for b, n in self.live if b == bucket and n.startswith(prefix))


class MemoryPublisher:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        if not attributes:
            raise PublishError("publish with at least one attribute")
        self.messages.append((topic, data, dict(attributes)))
        return str(len(self.messages))


class FakeVertex:
    """Jobs by resource name. `before_create` sees every create before it happens."""

    def __init__(self, before_create: Callable[[str], None] | None = None) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.before_create = before_create or (lambda name: None)
        self.broken: set[str] = set()  # job names whose reads fail
        self.ambiguous = 0  # the next creates commit, then fail as a timeout would
        self.on_find: Callable[[], None] = lambda: None  # runs after find_tuning_jobs lists
        self.cancels: list[str] = []  # the jobs a cancel was accepted for
        self.quota: int | None = None  # concurrent unfinished jobs; past it a create gets 429
        self.refused = 0  # creates refused for the quota
        self.gets = 0  # get_job calls
        self.list_pages = 0  # pages of tuning_job_pages sent for
        self.page_size = 100
        self.list_fault: Exception | None = None  # raised by the next page asked for
        self.listed_extra: list[dict[str, Any]] = []  # jobs every listing returns too

    def get_job(self, name: str) -> dict[str, Any]:
        from codetune.exceptions import RetryableVertexError

        self.gets += 1
        if name in self.broken:
            raise RetryableVertexError(f"GET {name}: 503")
        if name not in self.jobs:
            from codetune.exceptions import PermanentVertexError

            raise PermanentVertexError(f"GET {name}: 404 not found", 404, "NOT_FOUND")
        return dict(self.jobs[name])

    def _within_quota(self) -> None:
        from codetune.exceptions import RetryableVertexError

        ended = ("_SUCCEEDED", "_FAILED", "_CANCELLED")
        running = sum(not str(j["state"]).endswith(ended) for j in self.jobs.values())
        if self.quota is not None and running >= self.quota:
            self.refused += 1
            raise RetryableVertexError(
                "POST: 429 Quota exceeded: concurrent tuning jobs", 429, "RESOURCE_EXHAUSTED"
            )

    def create_pipeline_job(self, request: JobRequest) -> Submission:
        name = request.job_name
        assert name is not None, "a pipeline job's id is the client's"
        self.before_create(name)
        self._within_quota()
        if name in self.jobs:
            return Submission(self.jobs[name], created=False)
        self.creates += 1
        self.jobs[name] = {"name": name, "state": "PIPELINE_STATE_PENDING", **request.body}
        return Submission(self.jobs[name], created=True)

    def create_tuning_job(self, request: JobRequest) -> dict[str, Any]:
        name = f"{request.path.removeprefix('/v1/')}/{len(self.jobs) + 1}"
        self.before_create(name)
        self._within_quota()
        self.creates += 1
        self.jobs[name] = {"name": name, "state": "JOB_STATE_PENDING", **request.body}
        if self.ambiguous:
            from codetune.exceptions import RetryableVertexError

            self.ambiguous -= 1
            raise RetryableVertexError(f"POST {name}: no answer (the job was created)")
        return self.jobs[name]

    def find_tuning_jobs(
        self, project: str, region: str, label: tuple[str, str]
    ) -> list[dict[str, Any]]:
        key, value = label
        found = [
            j
            for j in self.jobs.values()
            if "/tuningJobs/" in j["name"] and j.get("labels", {}).get(key) == value
        ]
        self.on_find()  # after the listing: as if another delivery ran in between
        return found

    def tuning_job_pages(
        self, project: str, region: str, label: tuple[str, str]
    ) -> Iterator[list[dict[str, Any]]]:
        """As the client: pages of `page_size`, each counted when asked for."""
        key, value = label
        prefix = f"projects/{project}/locations/{region}/tuningJobs/"
        found = [
            dict(j)
            for n, j in self.jobs.items()
            if n.startswith(prefix) and j.get("labels", {}).get(key) == value
        ] + self.listed_extra
        for start in range(0, max(len(found), 1), self.page_size):
            self.list_pages += 1
            if self.list_fault is not None:
                fault, self.list_fault = self.list_fault, None
                raise fault
            yield found[start : start + self.page_size]

    def cancel_job(self, name: str) -> None:
        """As Vertex AI: CANCELLING now (`finish` it CANCELLED); an ended job, 400."""
        from codetune.exceptions import PermanentVertexError

        if name not in self.jobs:
            raise PermanentVertexError(f"POST {name}:cancel: 404 not found", 404, "NOT_FOUND")
        state = self.jobs[name]["state"]
        if state.endswith(("SUCCEEDED", "FAILED", "CANCELLED")):
            raise PermanentVertexError(
                f"POST {name}:cancel: 400 cannot cancel a job in state {state}",
                400,
                "FAILED_PRECONDITION",
            )
        self.cancels.append(name)
        prefix = "JOB_STATE" if "/tuningJobs/" in name else "PIPELINE_STATE"
        self.jobs[name] = {**self.jobs[name], "state": f"{prefix}_CANCELLING"}

    def finish(self, name: str, state: str, **fields: Any) -> None:
        self.jobs[name] = {**self.jobs[name], "state": state, **fields}
