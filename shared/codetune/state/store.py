"""RecordStore: the one owner of the system's object names and of the forward-only writes.

Every system object lives in the state bucket, which only the functions can touch: uploaders
write the upload bucket, and nothing there but the uploaded version, its manifest and its
metadata is ever read back (docs/guarantees.md). Names in the state bucket:

    <prefix>records/<dataset object>/<generation>.json   Record, one per dataset version
    <prefix>jobs/<job id>.json                           JobPointer, for status events
    <prefix>open/<job id>.json                           JobPointer of an unfinished job (sweep)
    <prefix>unfinished/<dataset object>/<generation>.json  the index of versions with work left
                                                         (not ended, or their end not announced),
                                                         each with when the sweep next has work
                                                         for it (codetune.state.due)
    <prefix>sweep/cursor.json                            where the sweep's scan of the uploads
                                                         goes on from
    <prefix>claims/<request digest>.json                 Claim, exactly-once Gemini creation
    <prefix>pinned/<dataset object>/<generation>.jsonl      the validated version, copied
    <prefix>converted/<dataset object>/<generation>/<role>.<gemini|seed>.jsonl
    <prefix>evaluations/<dataset object>/<generation>/<base|tuned>/<line>.json
                                                         one model's answer to one evaluation
                                                         example (codetune.app.evaluate)
    <prefix>reports/long/<sha-256>.report.json           the report of a dataset whose name is too
                                                         long to take the suffix
    <dataset object>.report.json                         the validation report, beside the file
                                                         in the upload bucket

Every write of a record reads it, computes the next one with `advance`, and writes it back
under a generation precondition, so an older or repeated event can never overwrite a newer
state and two writers racing cannot lose an update.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import msgspec

from codetune.evaluation.plan import Answer
from codetune.exceptions import InputError
from codetune.ports import ListedObject, ObjectStore
from codetune.state.due import Timing, Timings, due_metadata, listed_due, moved_earlier
from codetune.state.once import Claimed
from codetune.state.records import FINAL, Announced, Claim, JobPointer, Record, Stage, advance


class Buckets(Timings, Protocol):
    """What the store needs of the deployment's settings (codetune.config.Settings)."""

    @property
    def bucket(self) -> str: ...  # the upload bucket

    @property
    def state(self) -> str: ...  # the state bucket

    @property
    def system_prefix(self) -> str: ...


SYSTEM_PREFIX = "_codetune/"
# Cloud Storage names hold at most 1,024 bytes. A dataset's name goes into the names of its
# record, pinned copy and conversions; past this many bytes it is replaced there by a digest.
MAX_KEY_BYTES = 800
MAX_OBJECT_NAME_BYTES = 1024


def default_state_bucket(bucket: str) -> str:
    """The state bucket of an upload bucket, unless the deployment names its own."""
    return f"{bucket}-state"


def dataset_key(dataset: str) -> str:
    """The dataset's part of its system object names: its name, or for a very long name
    `long/<sha-256>` (the record still holds the full name)."""
    if len(dataset.encode()) <= MAX_KEY_BYTES:
        return dataset
    return "long/" + hashlib.sha256(dataset.encode()).hexdigest()


REPORT_SUFFIX = ".report.json"
# A record object's custom metadata key holding its stage, so that a listing tells which
# records are at an end without reading them.
STAGE_METADATA = "codetune-stage"
# ... and whether its end was announced (codetune.app.finished), so that the sweep finds the
# ended records still to announce from the same listing.
ANNOUNCED_METADATA = "codetune-announced"
# ... and its role when it is an evaluation dataset's, which the sweep has nothing to do for.
ROLE_METADATA = "codetune-role"
_FINAL_NAMES = frozenset(str(stage) for stage in FINAL)
# The models an evaluation asks, as its answers are filed.
ANSWER_ROLES = ("base", "tuned")
# The names pinned_uri and converted_uri write, relative to the system prefix.
_COPY = re.compile(
    r"^(?:pinned/(?P<pinned>.+)/(?P<pgen>\d+)\.jsonl|converted/(?P<converted>.+)/(?P<cgen>\d+)/[^/]+)$"
)


def converted_uri(
    bucket: str,
    prefix: str,
    dataset: str,
    generation: str | None,
    role: str,
    target: str = "gemini",
) -> str:
    """Where a dataset version converted to `target`'s format (gemini, seed) goes."""
    key = dataset_key(dataset)
    return f"gs://{bucket}/{prefix}converted/{key}/{generation or 'latest'}/{role}.{target}.jsonl"


def pinned_uri(bucket: str, prefix: str, dataset: str, generation: str | None) -> str:
    """Where validate copies a validated version: what every job reads from."""
    return f"gs://{bucket}/{prefix}pinned/{dataset_key(dataset)}/{generation or 'latest'}.jsonl"


HTML_SUFFIX = ".report.html"


def html_report_name(dataset_object: str, prefix: str = SYSTEM_PREFIX) -> str:
    """The page beside the JSON report: `incoming/train.jsonl.report.html`."""
    return report_name(dataset_object, prefix).removesuffix(REPORT_SUFFIX) + HTML_SUFFIX


RUN_PAGE_SUFFIX = ".run.html"


def run_page_name(dataset_object: str, prefix: str = SYSTEM_PREFIX) -> str:
    """The page of a version's tuning job, beside its report: `incoming/train.jsonl.run.html`."""
    return report_name(dataset_object, prefix).removesuffix(REPORT_SUFFIX) + RUN_PAGE_SUFFIX


EVAL_PAGE_SUFFIX = ".eval.html"


def eval_page_name(dataset_object: str, generation: str, prefix: str = SYSTEM_PREFIX) -> str:
    """The page of a version's evaluation, beside its answers in the state bucket:
    `_codetune/evaluations/incoming/train.jsonl/<generation>/page.eval.html`. Not beside the
    dataset: it holds the evaluation dataset's text and both models' answers, which no uploader
    may read (an uploader reads what is beside any upload)."""
    return f"{prefix}evaluations/{dataset_key(dataset_object)}/{generation}/page{EVAL_PAGE_SUFFIX}"


def report_name(dataset_object: str, prefix: str = SYSTEM_PREFIX) -> str:
    """The validation report beside the dataset: `incoming/train.jsonl.report.json`; for a name
    too long to take the suffix, under the system prefix by the name's digest."""
    name = dataset_object + REPORT_SUFFIX
    if len(name.encode()) <= MAX_OBJECT_NAME_BYTES:
        return name
    digest = hashlib.sha256(dataset_object.encode()).hexdigest()
    return f"{prefix}reports/long/{digest}{REPORT_SUFFIX}"


class RecordStore:
    """The system's objects in the state bucket `bucket`, for the datasets of the upload bucket
    `uploads`."""

    def __init__(
        self,
        storage: ObjectStore,
        bucket: str,
        prefix: str = SYSTEM_PREFIX,
        uploads: str = "",
        timing: Timing | None = None,
    ) -> None:
        self.storage, self.bucket, self.prefix = storage, bucket, prefix
        self.uploads, self.timing = uploads, timing or Timing()

    @classmethod
    def of(cls, storage: ObjectStore, settings: Buckets) -> RecordStore:
        """The deployment's store: its state bucket, for its upload bucket."""
        timing = Timing.of(settings)
        return cls(storage, settings.state, settings.system_prefix, settings.bucket, timing)

    def report_location(self, dataset: str) -> tuple[str, str]:
        """(bucket, name) of a dataset's report: beside it, or in the state bucket when its
        name is too long to take the suffix."""
        name = report_name(dataset, self.prefix)
        return (self.bucket if name.startswith(self.prefix) else self.uploads), name

    def run_page_location(self, dataset: str) -> tuple[str, str]:
        """(bucket, name) of a version's run page: where its report is."""
        return self.report_location(dataset)[0], run_page_name(dataset, self.prefix)

    def eval_page_location(self, dataset: str, generation: str) -> tuple[str, str]:
        """(bucket, name) of a version's evaluation page: in the state bucket."""
        return self.bucket, eval_page_name(dataset, generation, self.prefix)

    # --- names ---------------------------------------------------------------------------------
    def record_name(self, dataset: str, generation: str) -> str:
        return f"{self.prefix}records/{dataset_key(dataset)}/{generation}.json"

    def _pointer_name(self, job_id: str) -> str:
        return f"{self.prefix}jobs/{job_id}.json"

    def _open_name(self, job_id: str) -> str:
        return f"{self.prefix}open/{job_id}.json"

    def _claim_name(self, request: str) -> str:
        return f"{self.prefix}claims/{request}.json"

    def converted_uri(self, dataset: str, generation: str | None, role: str) -> str:
        """Where the Gemini version of a dataset version goes."""
        return converted_uri(self.bucket, self.prefix, dataset, generation, role)

    def pinned_uri(self, dataset: str, generation: str) -> str:
        """Where validate copies the version it validated: what every job reads from."""
        return pinned_uri(self.bucket, self.prefix, dataset, generation)

    def pinned_name(self, dataset: str, generation: str) -> str:
        return self.pinned_uri(dataset, generation).removeprefix(f"gs://{self.bucket}/")

    def copied_version(self, uri: str) -> tuple[str, str] | None:
        """The dataset version a pinned copy or a conversion was made from, by its URI; None
        for anything else (or for a name kept as a digest)."""
        name = uri.removeprefix(f"gs://{self.bucket}/{self.prefix}")
        found = _COPY.match(name) if name != uri else None
        if found is None:
            return None
        return found["pinned"] or found["converted"], found["pgen"] or found["cgen"]

    def pin(self, dataset: str, generation: str) -> str | None:
        """Copy that generation of the upload into the state bucket, once (a repeated event
        finds the copy made before); the copy's generation, what every job reads, or None if
        the upload was replaced meanwhile."""
        return self.storage.copy(
            self.uploads, dataset, generation, self.bucket, self.pinned_name(dataset, generation)
        )

    def dataset_name(self, uri: str | None) -> str | None:
        """The object name of a record's dataset URI, if it is an upload of this deployment."""
        head = f"gs://{self.uploads}/"
        return uri[len(head) :] if uri and uri.startswith(head) else None

    def is_system_object(self, name: str) -> bool:
        return name.startswith(self.prefix) or name.endswith(REPORT_SUFFIX)

    # --- records -------------------------------------------------------------------------------
    def record(self, dataset: str, generation: str) -> Record | None:
        document, _ = self.storage.read_json(self.bucket, self.record_name(dataset, generation))
        return None if document is None else Record.from_json(document)

    def advance(
        self, dataset: str, generation: str, stage: Stage, by: str, /, **changes: Any
    ) -> Record | None:
        """Move the record forward; the record written, or None when it was no step forward."""
        return self.update(
            dataset, generation, lambda current: advance(current, stage, by, **changes)
        )

    def update(
        self, dataset: str, generation: str, change: Callable[[Record | None], Record | None]
    ) -> Record | None:
        before: Record | None = None

        def step(document: dict[str, Any] | None) -> dict[str, Any] | None:
            nonlocal before
            before = None if document is None else Record.from_json(document)
            return _json(change(before))

        name = self.record_name(dataset, generation)
        written = self.storage.update_json(self.bucket, name, step, _metadata)
        if written is None:
            return None
        record = Record.from_json(written)
        # After the record: a crash between leaves a new version to the scan, and an entry due
        # later than its new work to that time (at most the grace, or the stuck report's).
        moved = moved_earlier(before, record, self.timing)
        if moved is not None:
            self._index(name, moved.time)
        return record

    def listed_records(self) -> list[ListedObject]:
        """Every record object, from one paged listing: names and stages, no reads."""
        return list(self.storage.list_objects(self.bucket, f"{self.prefix}records/"))

    def unfinished_work(
        self,
        on_bad: Callable[[str, Exception], None],
        limit: int,
        indexed: list[IndexEntry] | None = None,
        now: datetime | None = None,
    ) -> list[Unfinished]:
        """Up to `limit` versions with work due by `now` (default: now), from one listing of
        the index (or `indexed`, the entries a scan found in it) and a read of each record:
        what the sweep looks at, however long the history and however much work is not due
        yet. An entry whose record has ended and was announced (or is gone) is dropped from the
        index here; an unreadable record is reported to `on_bad` and skipped."""
        now = now or datetime.now(UTC)
        found: list[Unfinished] = []
        for entry in self._indexed() if indexed is None else indexed:
            if len(found) >= limit:
                break
            if entry.due > now:
                continue
            name = entry.record
            try:
                document, _ = self.storage.read_json(self.bucket, name)
                record = None if document is None else Record.from_json(document)
            except (InputError, ValueError) as fault:
                on_bad(name, fault)
                continue
            if (
                record is None
                or (record.state in FINAL and _was_announced(record))
                or _waits_for_nothing(record.role, str(record.state))
            ):
                self._unindex(name)
                continue
            key, _, leaf = name.removeprefix(f"{self.prefix}records/").rpartition("/")
            dataset = self.dataset_name(record.dataset) or key  # the full name of a digest key
            found.append(Unfinished(dataset, leaf.removesuffix(".json"), record, entry))
        return found

    def reschedule(self, work: Unfinished, due: datetime) -> None:
        """Put the version's entry in the index at `due`, unless the entry changed since it was
        listed (a writer moved it, or its end was announced): theirs stands."""
        self._index(work.entry.record, due, work.entry.generation)

    def settled(self, dataset: str, generation: str) -> None:
        """The version has ended and its end was announced: out of the index."""
        self._unindex(self.record_name(dataset, generation))

    def _index(self, record: str, due: datetime, if_generation_match: int | None = None) -> None:
        """Put the record (its object name) in the index of versions with work left, due at
        `due`."""
        self.storage.write_json(
            self.bucket,
            _index_name(record, self.prefix),
            {"record": record},
            if_generation_match,
            due_metadata(due),
        )

    def _unindex(self, record: str) -> None:
        self.storage.delete(self.bucket, _index_name(record, self.prefix))

    def _indexed(self) -> list[IndexEntry]:
        """The index's entries, from one listing of it: each record's name and due time."""
        head = f"{self.prefix}unfinished/"
        return [
            IndexEntry(
                _record_of_index(listed.name, self.prefix),
                listed_due(listed.metadata),
                int(listed.generation) if listed.generation.isdigit() else None,
            )
            for listed in self.storage.list_objects(self.bucket, head)
        ]

    def scan(self, prefix: str, size: int) -> Scan:
        """The next `size` uploads under `prefix` after where the last scan stopped (from the
        first again past the last), with the records of their datasets: one page of each, so
        that over ceil(uploads / size) sweeps every upload is looked at. Records in the window
        that have work left and are not in the index (written before it, or a crash between a
        record and its entry) are put in it; the scan's one listing of the index, with them,
        serves `unfinished_work`."""
        cursor, generation = self.storage.read_json(self.bucket, self._cursor_name)
        after = str((cursor or {}).get("next") or "")
        listed = list(self.storage.list_objects(self.uploads, prefix, start=after, limit=size + 1))
        uploads, following = listed[:size], (listed[size].name if len(listed) > size else "")
        keys = [dataset_key(u.name) for u in uploads if not self.is_system_object(u.name)]
        plain = [key for key in keys if not key.startswith("long/")]
        records: list[ListedObject] = []
        head = f"{self.prefix}records/"
        if plain:
            records = list(
                self.storage.list_objects(
                    self.bucket, head, start=f"{head}{min(plain)}/",
                    end=max(f"{head}{key}/\x7f" for key in plain),
                )
            )  # fmt: skip
        for key in keys:
            if key.startswith("long/"):  # a digest key sorts apart: its versions one by one
                records += list(self.storage.list_objects(self.bucket, f"{head}{key}/"))
        indexed = self._index_missing(records)
        self.storage.write_json(
            self.bucket, self._cursor_name, {"next": following}, generation or 0
        )
        return Scan(uploads, _versions(records, head), indexed)

    @property
    def _cursor_name(self) -> str:
        return f"{self.prefix}sweep/cursor.json"

    def _index_missing(self, records: list[ListedObject]) -> list[IndexEntry]:
        """Index the records with work left that the index misses, due now; the entries it
        holds now, in its order."""
        indexed = self._indexed()
        known = {entry.record for entry in indexed}
        missing: list[IndexEntry] = []
        for listed in records:
            stage, meta = listed.metadata.get(STAGE_METADATA, ""), listed.metadata
            settled = stage in _FINAL_NAMES and meta.get(ANNOUNCED_METADATA)
            if settled or _waits_for_nothing(meta.get(ROLE_METADATA), stage):
                continue
            if listed.name not in known:
                entry = IndexEntry(listed.name, listed_due({}), None)
                self._index(entry.record, entry.due)
                known.add(listed.name)
                missing.append(entry)
        return sorted(indexed + missing) if missing else indexed

    def generations(self, dataset: str) -> list[str]:
        """The dataset's versions that have a record, oldest first."""
        prefix = f"{self.prefix}records/{dataset_key(dataset)}/"
        stems = [
            listed.name[len(prefix) :].removesuffix(".json")
            for listed in self.storage.list_objects(self.bucket, prefix)
        ]
        return [str(g) for g in sorted(int(s) for s in stems if s.isdigit())]

    # --- job pointers --------------------------------------------------------------------------
    def write_pointer(self, pointer: JobPointer) -> None:
        self.storage.write_json(self.bucket, self._pointer_name(pointer.job_id), pointer.to_json())

    def pointer(self, job_id: str) -> JobPointer | None:
        document, _ = self.storage.read_json(self.bucket, self._pointer_name(job_id))
        return None if document is None else JobPointer.from_json(document)

    def open_job(self, pointer: JobPointer) -> None:
        """Mark the job unfinished, for the sweep."""
        self.storage.write_json(self.bucket, self._open_name(pointer.job_id), pointer.to_json())

    def close_job(self, job_id: str) -> None:
        self.storage.delete(self.bucket, self._open_name(job_id))

    def open_job_count(self) -> int:
        """How many jobs are unfinished: one listing, no reads."""
        return sum(1 for _ in self.storage.list_objects(self.bucket, f"{self.prefix}open/"))

    def open_jobs(self, on_bad: Callable[[str, Exception], None]) -> list[JobPointer]:
        """The pointers of unfinished jobs. One unreadable object is reported to `on_bad` and
        skipped: it never stops the others being read."""
        pointers = []
        for listed in self.storage.list_objects(self.bucket, f"{self.prefix}open/"):
            name = listed.name
            try:
                document, _ = self.storage.read_json(self.bucket, name)
                if document is not None:
                    pointers.append(JobPointer.from_json(document))
            except (InputError, ValueError) as fault:  # orjson's decode error is a ValueError
                on_bad(name, fault)
        return pointers

    # --- claims --------------------------------------------------------------------------------
    def claim(self, request: str) -> tuple[Claim | None, int]:
        """The claim and its object generation (0: none)."""
        document, generation = self.storage.read_json(self.bucket, self._claim_name(request))
        return (None if document is None else Claim.from_json(document)), generation

    def write_claim(self, claim: Claim, if_generation_match: int) -> bool:
        """Write under a precondition (0: only if there is none); False if another was first."""
        return self.storage.write_json(
            self.bucket, self._claim_name(claim.request), claim.to_json(), if_generation_match
        )

    # --- evaluation answers ------------------------------------------------------------------
    def pinned_object(self, uri: str) -> str:
        """The state bucket's object of a pinned copy (or conversion) a record names; InputError
        for a URI that names anything else (a stored value is not trusted to pick an object)."""
        if self.copied_version(uri) is None:
            raise InputError(f"not a validated copy of this deployment: {uri[:200]!r}")
        return uri.removeprefix(f"gs://{self.bucket}/")

    def _answers(self, dataset: str, generation: str) -> str:
        return f"{self.prefix}evaluations/{dataset_key(dataset)}/{generation}/"

    def answered(self, dataset: str, generation: str) -> set[tuple[str, int]]:
        """(model role, line) of every answer stored for a version, from one listing."""
        head = self._answers(dataset, generation)
        found = set()
        for listed in self.storage.list_objects(self.bucket, head):
            role, _, line = listed.name[len(head) :].removesuffix(".json").partition("/")
            if role in ANSWER_ROLES and line.isdigit():
                found.add((role, int(line)))
        return found

    def answer(self, dataset: str, generation: str, role: str, line: int) -> Answer | None:
        """A stored answer; None for none, or for one that is not an answer (asked again)."""
        name = f"{self._answers(dataset, generation)}{role}/{line}.json"
        document, _ = self.storage.read_json(self.bucket, name)
        try:
            answer = msgspec.convert(document, Answer) if document is not None else None
        except msgspec.ValidationError:
            return None
        return answer if answer is not None and answer.line == line else None

    def put_answer(self, dataset: str, generation: str, role: str, answer: Answer) -> None:
        if role not in ANSWER_ROLES:
            raise ValueError(f"not a model role: {role!r}")
        name = f"{self._answers(dataset, generation)}{role}/{answer.line}.json"
        self.storage.write_json(self.bucket, name, msgspec.to_builtins(answer))


class RecordClaims:
    """The claim to announce a record's end, kept in the record itself (`announced`):
    {"claimed": time} while it is being published, {"message_id", "time"} once it was. Read
    through the claim primitive (state/once.py); `record` is the record last read.

    The claim's precondition is the claim, not the whole record: a write that finds the record
    changed only elsewhere (a late stage merging a field in) is made again on the new version,
    so that no claim, result or release is lost to a concurrent write of another field."""

    def __init__(self, store: RecordStore, dataset: str, generation: str) -> None:
        self.store, self.name = store, store.record_name(dataset, generation)
        self.record: Record | None = None
        self._generation = 0

    def read(self) -> tuple[Claimed | None, int]:
        document, self._generation = self.store.storage.read_json(self.store.bucket, self.name)
        self.record = None if document is None else Record.from_json(document)
        return _claimed(self.record), self._generation

    def write(self, claimed: Claimed, generation: int) -> bool:
        if self.record is None or generation != self._generation:
            return False
        seen = _claimed(self.record)
        for _ in range(MAX_CLAIM_WRITES):
            written = msgspec.structs.replace(self.record, announced=_announced(claimed))
            document = written.to_json()
            if self.store.storage.write_json(
                self.store.bucket, self.name, document, self._generation, _metadata(document)
            ):
                # The claim primitive reads again before its next write: no read here.
                self.record, self._generation = written, -1
                if claimed.result is not None and written.state in FINAL:
                    self.store._unindex(self.name)
                return True
            self.read()
            if self.record is None or _claimed(self.record) != seen:
                return False  # another caller changed the claim itself: theirs stands
        return False


MAX_CLAIM_WRITES = 8


class IndexEntry(NamedTuple):
    """One entry of the index of unfinished work, as listed."""

    record: str  # the record's object name
    due: datetime  # when the sweep next has work for it
    generation: int | None  # the entry object's, for a precondition (None: not known)


class Unfinished(NamedTuple):
    """A version with work due, as the sweep reads it."""

    dataset: str
    generation: str
    record: Record
    entry: IndexEntry


class Scan(msgspec.Struct, frozen=True):
    """One window of the sweep's scan: uploads, and the versions recorded among them as
    (dataset_key(dataset), generation)."""

    uploads: list[ListedObject]
    recorded: set[tuple[str, str]]
    indexed: list[IndexEntry] | None = None  # the index's entries, scan's additions included


def _index_name(record_name: str, prefix: str) -> str:
    return f"{prefix}unfinished/" + record_name.removeprefix(f"{prefix}records/")


def _record_of_index(index_name: str, prefix: str) -> str:
    return f"{prefix}records/" + index_name.removeprefix(f"{prefix}unfinished/")


def _versions(records: list[ListedObject], head: str) -> set[tuple[str, str]]:
    found = set()
    for listed in records:
        key, _, leaf = listed.name.removeprefix(head).rpartition("/")
        found.add((key, leaf.removesuffix(".json")))
    return found


def _waits_for_nothing(role: str | None, stage: str) -> bool:
    """A valid evaluation dataset: tuned only with its training dataset, it has no end of its
    own, and nothing for the sweep to do."""
    return role == "evaluation" and stage not in _FINAL_NAMES


def _was_announced(record: Record) -> bool:
    return bool(record.announced and record.announced.message_id)


def _claimed(record: Record | None) -> Claimed | None:
    announced = (record.announced if record else None) or Announced()
    if announced.message_id:
        return Claimed(0.0, announced.message_id)
    if announced.claimed:
        return Claimed(datetime.fromisoformat(announced.claimed).timestamp())
    return None


def _announced(claimed: Claimed) -> Announced | None:
    if claimed.result is not None:
        return Announced(message_id=claimed.result, time=_iso(claimed.since))
    return Announced(claimed=_iso(claimed.since)) if claimed.since else None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _metadata(document: dict[str, Any]) -> dict[str, str]:
    """A record object's metadata: its stage, and whether its end was announced."""
    metadata = {STAGE_METADATA: str(document.get("state", ""))}
    if document.get("role") == "evaluation":
        metadata[ROLE_METADATA] = "evaluation"
    if (document.get("announced") or {}).get("message_id"):
        metadata[ANNOUNCED_METADATA] = "true"
    return metadata


def _json(record: Record | None) -> dict[str, Any] | None:
    return None if record is None else record.to_json()
