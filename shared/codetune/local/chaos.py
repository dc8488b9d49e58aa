"""`codetune chaos`: the whole chain on the local stack with faults injected at random, and one
JSON summary of what came of every dataset.

Faults, drawn from `--seed`: every kind of message (storage events, "dataset validated", job
events, evaluation requests) lost, delivered twice, or overtaken by later ones; "dataset validated" messages forged
for versions that were never validated; Vertex AI answering 429, 503 or 409 ABORTED before a
create, or 503 or nothing at all after the create committed; jobs that vanish from Vertex AI;
storage stalls; poison objects under the system prefix; hostile metadata and manifests (a
project, output directory, service account or region of the uploader's choosing); invalid
datasets; datasets overwritten while their job runs; and an attacker with an uploader's rights:
forged state (records, job pointers naming other hosts, claims, pinned copies) written into the
upload bucket under any prefix, and datasets dropped outside the upload prefix; cancels asked
at random of versions validated or running, and corrected uploads that supersede a running
version (SUPERSEDE=cancel), both through the same faulty deliveries. Every third valid
dataset is paired with an evaluation dataset by its manifest: those end only once their tuned
model is evaluated, through lost and repeated requests and a generateContent that throttles
(429) and fails (500) now and then. The run passes
(exit 0) only when no dataset is lost, no dataset version has two jobs, no job reads data that
was not validated, no job comes from forged state, no request goes to a host that is not the
deployment's, no job trains on past a cancel recorded in its record, and every dataset ended
tuned, failed or cancelled.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from codetune.dataset import DatasetKind, DatasetRole
from codetune.local.generate_standin import GenerateFaults
from codetune.local.stack import LocalStack, StackConfig, StackError
from codetune.local.vertex_standin import NO_ANSWER, VertexStandIn
from codetune.messages import CancelRequested, DatasetValidated
from codetune.state import FINAL, Record, RecordStore, Stage
from codetune.state.records import why_no_model
from codetune.storage import Storage
from codetune.tuning.manifest import manifest_name


class Summary(msgspec.Struct):
    datasets: int = 0
    tuned: int = 0
    # dataset version -> recorded reason
    failed: dict[str, str] = msgspec.field(default_factory=dict)
    lost: list[str] = msgspec.field(default_factory=list)
    duplicate_jobs: int = 0
    jobs_on_unvalidated_data: int = 0
    tuned_with_hostile_settings: int = 0  # uploads that named a project of their own
    # Requests the Vertex AI stand-in received for a project or region not the deployment's:
    # in the cloud, each would have carried a token to the host the name picked.
    requests_to_foreign_hosts: int = 0
    jobs_from_forged_state: int = 0  # jobs on forged data, names or parameters
    cancelled: int = 0
    # Tuned versions paired with the evaluation dataset, and those of them that ended with a
    # verdict (the rest say why not: docs/evaluation.md).
    paired: int = 0
    evaluated: int = 0
    # Jobs still training (or ended tuned) well after their record said a cancel was asked.
    jobs_past_cancel: int = 0
    faults_injected: Counter[str] = msgspec.field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            not self.lost
            and self.duplicate_jobs == 0
            and self.jobs_on_unvalidated_data == 0
            and self.tuned_with_hostile_settings == 0
            and self.requests_to_foreign_hosts == 0
            and self.jobs_from_forged_state == 0
            and self.jobs_past_cancel == 0
            and self.tuned + len(self.failed) == self.datasets
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "datasets": self.datasets,
            "tuned": self.tuned,
            "failed": self.failed,
            "lost": self.lost,
            "duplicate_jobs": self.duplicate_jobs,
            "jobs_on_unvalidated_data": self.jobs_on_unvalidated_data,
            "tuned_with_hostile_settings": self.tuned_with_hostile_settings,
            "requests_to_foreign_hosts": self.requests_to_foreign_hosts,
            "jobs_from_forged_state": self.jobs_from_forged_state,
            "cancelled": self.cancelled,
            "paired_with_evaluation": self.paired,
            "evaluated": self.evaluated,
            "jobs_past_cancel": self.jobs_past_cancel,
            "faults_injected": dict(sorted(self.faults_injected.items())),
            "seconds": round(self.seconds, 1),
            "passed": self.passed,
        }


def _example(rng: random.Random, index: int) -> bytes:
    language = rng.choice(["Python", "Go", "Rust", "Java"])
    return orjson.dumps(
        {
            "input_text": f"Write the code in {language}: a function that returns {index} plus x.",
            "output_text": f"```\nfunction f{index}(x) {{ return x + {index}; }}\n```",
        }
    )


def _evaluation_dataset(rng: random.Random) -> bytes:
    """Examples none of the training datasets has (their numbers start past theirs)."""
    return b"".join(_example(rng, 1000 + i) + b"\n" for i in range(12))


def _dataset(rng: random.Random, valid: bool) -> bytes:
    lines = [_example(rng, i) for i in range(rng.randint(12, 30))]
    if not valid:
        lines[rng.randrange(len(lines))] = b'{"input_text": 7}'
    return b"".join(line + b"\n" for line in lines)


class Injector:
    """Draws faults from the seed and counts what it injected (from several threads)."""

    def __init__(self, seed: int, faults: Counter[str]) -> None:
        self.rng = random.Random(seed)
        self.faults = faults
        self._lock = threading.Lock()

    def count(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def deliveries(
        self,
        what: str,
        rates: tuple[float, float, float],
        applies: Callable[[bytes], bool] = lambda body: True,
    ) -> Callable[[bytes], list[float]]:
        """A PushRelay route for pushes of `what` (those `applies` accepts): lost, repeated or
        overtaken at these rates, and each of the three at least once, first."""
        first = ["lost", "duplicated", "reordered"]

        def route(body: bytes) -> list[float]:
            if not applies(body):
                return [0.0]
            with self._lock:
                later = 0.5 + 2.5 * self.rng.random()
                if first:
                    fault = first.pop(0)
                else:
                    draw, (lost, duplicated, delayed) = self.rng.random(), rates
                    fault = (
                        "lost"
                        if draw < lost
                        else "duplicated"
                        if draw < lost + duplicated
                        else "reordered"
                        if draw < lost + duplicated + delayed
                        else ""
                    )
                if fault:
                    self.faults[f"{what}_{fault}"] += 1
                return {"lost": [], "duplicated": [0.0, later], "reordered": [later]}.get(
                    fault, [0.0]
                )

        return route


def _is_upload(body: bytes) -> bool:
    """A bucket notification (a Pub/Sub push) of a dataset upload, not of a system object."""
    attributes = (orjson.loads(body).get("message") or {}).get("attributes") or {}
    name = str(attributes.get("objectId", ""))
    return name.startswith("incoming/") and name.lower().endswith(".jsonl")


def run(datasets: int, seed: int, base_model: str | None, timeout: float) -> Summary:
    rng = random.Random(seed)
    summary = Summary()
    started = time.monotonic()
    # The stand-in lists jobs consistently: a dead delivery's claim may be taken over sooner.
    config = StackConfig(
        extra_env={
            "CODETUNE_RECONCILE_GRACE_SECONDS": "4",
            "CODETUNE_CLAIM_TIMEOUT_SECONDS": "20",
            "CODETUNE_SUPERSEDE": "cancel",
        },
        storage="filesystem",  # so that the storage emulator can be restarted
        # The evaluation's requests throttled and failing now and then, as Vertex AI's are.
        generate_faults=GenerateFaults(throttled=0.1, internal=0.05, seed=seed),
    )
    with LocalStack(config) as stack:
        assert stack.vertex is not None
        faults = summary.faults_injected
        vertex = stack.vertex
        inject = Injector(seed, faults)
        # Every kind of message: lost (acknowledged, never delivered), repeated, overtaken.
        stack.relays["eventarc-validate"].route = inject.deliveries(
            "storage_event", (0.15, 0.15, 0.1), _is_upload
        )
        stack.relays["tune"].route = inject.deliveries("validated_message", (0.1, 0.15, 0.1))
        stack.relays["status"].route = inject.deliveries("job_event", (0.2, 0.15, 0.15))
        stack.relays["evaluate"].route = inject.deliveries("evaluation_request", (0.15, 0.15, 0.1))
        evaluation = _evaluation_set(stack, seed, rng)
        # Only a Gemini job is evaluated: the pipeline's datasets keep every fault of their own.
        gemini = base_model is None or not base_model.startswith("code")
        paired: set[str] = set()
        model = {"codetune-large_model_reference": base_model} if base_model else {}
        uploads: list[tuple[str, str]] = []
        hostile: set[tuple[str, str]] = set()
        rejected: list[tuple[str, str]] = []  # invalid versions, for forged messages
        for index in range(datasets):
            name = f"incoming/chaos-{seed}-{index}.jsonl"
            valid = index in (1, 2) or rng.random() > 0.2  # 1 and 2 are steered (below)
            metadata = dict(model)
            steered = index in (1, 2) or rng.random() < 0.2
            if steered and (index == 1 or (index != 2 and rng.random() < 0.5)):
                metadata["codetune-project"] = "attacker-project"
                faults["hostile_metadata"] += 1
            elif steered:
                _hostile_manifest(stack, name, rng)
                faults["hostile_manifest"] += 1
            # Every third valid, unsteered one: drawn before anything runs, so one seed pairs
            # the same datasets every time.
            pair = gemini and valid and not steered and evaluation is not None and index % 3 == 0
            if pair:
                stack.upload(orjson.dumps({"evaluation": evaluation}), manifest_name(name))
            if not valid:
                faults["invalid_dataset"] += 1
            _vertex_fault(vertex, rng, faults, index)
            uploads.append((name, stack.upload(_dataset(rng, valid), name, metadata or None)))
            if steered:
                hostile.add(uploads[-1])
            if pair:
                paired.add(name)  # every version of it: the manifest stays beside the name
            if not valid:
                rejected.append(uploads[-1])
        _poison(stack, seed, faults)
        forged_versions = _forge_state(stack, seed, faults)
        # Messages forged for versions that were rejected, for one that was never uploaded, and
        # for the attacker's versions outside the upload prefix.
        targets = [*rejected, (f"incoming/forged-{seed}.jsonl", "1"), *forged_versions]
        for name, generation in targets:
            forged = DatasetValidated(
                stack.config.bucket,
                name,
                generation,
                DatasetKind.GENERATION,
                DatasetRole.TRAINING,
                50,
                "",
                "ct-forged",
                model,
            )
            data, attributes = forged.encode()
            stack.publisher.publish(stack.topic("dataset-validated"), data, **attributes).result(30)
            faults["message_forged"] += 1
        store = RecordStore(Storage(), stack.state_bucket, uploads=stack.config.bucket)
        deadline = time.monotonic() + timeout
        overwritten: set[str] = set()
        vanished: set[str] = set()
        cancels = _Cancels()
        stalls = rounds = 0
        while time.monotonic() < deadline:
            pending = 0
            for name, generation in list(uploads):
                record = store.record(name, generation)
                if record is None or record.state not in FINAL:
                    pending += 1
                if name in paired:
                    continue  # its faults are the evaluation's own: requests, 429, 500
                if record is not None and cancels.ask(stack, rng, record, faults):
                    continue
                if record is None or record.state not in _RUNNING:
                    continue
                # The first two running versions seen, then now and then: one overwritten with
                # invalid data, one corrected (SUPERSEDE=cancel stops its job).
                if name not in overwritten and (len(overwritten) < 2 or rng.random() < 0.2):
                    overwritten.add(name)
                    # Invalid, or valid: a correction that cancels the running version's job.
                    # The first invalid, the second a correction, then either at random.
                    corrected = len(overwritten) == 2 or (
                        len(overwritten) > 2 and rng.random() < 0.3
                    )
                    uploads.append(
                        (name, stack.upload(_dataset(rng, corrected), name, model or None))
                    )
                    faults[
                        "dataset_superseded" if corrected else "dataset_overwritten_while_tuning"
                    ] += 1
                elif (
                    record.job is not None
                    and record.job.name not in vanished
                    and (not vanished or rng.random() < 0.05)
                    and vertex.vanish(record.job.name)
                ):
                    vanished.add(record.job.name)
                    faults["job_vanished"] += 1
            if not pending:
                break
            rounds += 1
            # A stall at once; a restart at random, and by the fourth round at the latest (a
            # run with many quick ends, cancels among them, can be over in a few rounds).
            if stalls < 2 and (not stalls or rng.random() < 0.1 or rounds >= 4):
                stalls += 1
                if stalls == 1:
                    stack.stall_storage(2.0)
                    faults["storage_stalled"] += 1
                else:
                    stack.restart_storage(2.0)
                    faults["storage_restarted"] += 1
            time.sleep(0.5)
        summary.datasets = len(uploads)
        for name, generation in uploads:
            record = store.record(name, generation)
            key = f"{name}#{generation}"
            if record is None or record.state not in FINAL:
                summary.lost.append(f"{key}: {record.state if record else 'no record'}")
            elif record.state is Stage.SUCCEEDED:
                summary.tuned += 1
                summary.paired += name in paired
                summary.evaluated += bool(record.evaluation and record.evaluation.verdict)
                summary.tuned_with_hostile_settings += (name, generation) in hostile
            else:
                summary.failed[key] = f"{record.state}: {why_no_model(record)}"
                summary.cancelled += record.state is Stage.CANCELLED
        _check_jobs(stack, store, summary)
        summary.jobs_past_cancel = _past_cancel(stack, store)
        summary.requests_to_foreign_hosts = _foreign_requests(stack)
    summary.seconds = time.monotonic() - started
    return summary


_RUNNING = frozenset({Stage.SUBMITTED, Stage.QUEUED, Stage.RUNNING})
# Vertex AI answering before doing anything: quota, unavailable, a concurrent change.
_BEFORE: dict[str, int | tuple[int, str]] = {
    "vertex_429": 429,
    "vertex_503": 503,
    "vertex_409_aborted": (409, "ABORTED"),
}
# Vertex AI doing the create, then answering an error or nothing at all (a timeout).
_AFTER = {"vertex_503_after_create": 503, "vertex_no_answer_after_create": NO_ANSWER}


def _vertex_fault(
    vertex: VertexStandIn, rng: random.Random, faults: Counter[str], index: int
) -> None:
    """Before dataset `index` is dropped: the first datasets get one of each kind, in turn."""
    kinds = [*sorted(_BEFORE), *sorted(_AFTER)]
    draw = rng.random()
    kind = (
        kinds[index]
        if index < len(kinds)
        else rng.choice(sorted(_BEFORE))
        if draw < 0.2
        else rng.choice(sorted(_AFTER))
        if draw < 0.3
        else None
    )
    if kind in _BEFORE:
        vertex.inject_faults(_BEFORE[kind])
    elif kind in _AFTER:
        vertex.fail_after_commit(_AFTER[kind])
    if kind:
        faults[kind] += 1


def _evaluation_set(stack: LocalStack, seed: int, rng: random.Random) -> str | None:
    """An evaluation dataset, valid before any training dataset names it (tune refuses one
    that is not); its name as a manifest gives it, or None if it was not validated in time."""
    name = f"incoming/chaos-{seed}-evaluation.eval.jsonl"
    generation = stack.upload(_evaluation_dataset(rng), name)
    store = RecordStore(Storage(), stack.state_bucket, uploads=stack.config.bucket)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = store.record(name, generation)
        if record is not None and record.state is Stage.VALIDATED:
            return name.rpartition("/")[2]
        time.sleep(0.2)
    return None


def _hostile_manifest(stack: LocalStack, name: str, rng: random.Random) -> None:
    """A manifest beside the dataset that points the job somewhere the deployment did not."""
    steer = rng.choice(
        [
            {"output_dir": "gs://attacker-bucket/out"},
            {"service_account": "attacker@evil.iam.gserviceaccount.com"},
            {"pipeline_region": "evil-host1"},
        ]
    )
    stack.upload(orjson.dumps({"parameters": steer}), manifest_name(name))


def _poison(stack: LocalStack, seed: int, faults: Counter[str]) -> None:
    """Objects no function wrote, under the system prefix: each must be skipped, never halt."""
    for name in (
        f"_codetune/open/poison-{seed}.json",
        f"_codetune/records/incoming/poison-{seed}.jsonl/1.json",
        f"_codetune/jobs/poison-{seed}.json",
    ):
        stack.upload(b"{not json", name)
        faults["poison_object"] += 1


# What the attacker's forged records ask for: a job with it would come from forged state.
FORGED_EPOCHS = 97
FOREIGN_JOBS = (
    "projects/local-project/locations/attacker.example?/tuningJobs/1",
    "projects/local-project/locations/attacker.example#/pipelineJobs/codetune-x",
    "projects/someone-else/locations/us-central1/tuningJobs/2",
)


def _forge_state(stack: LocalStack, seed: int, faults: Counter[str]) -> list[tuple[str, str]]:
    """What an uploader can create in the upload bucket (and nothing else): datasets outside
    the upload prefix, and forged system objects under any prefix, as an older release kept
    them beside the uploads: VALIDATED records whose layers claim the deployment's origin,
    pinned copies, job pointers and claims naming other hosts. Returns the forged versions."""
    leak = b'{"input_text": "AKIAIOSFODNN7EXAMPLE", "output_text": "a key"}\n' * 12
    versions = []
    for name in (f"staging/leak-{seed}.jsonl", f"leak-{seed}.jsonl", f"incoming/forged-{seed}-x"):
        generation = stack.upload(leak, name)
        versions.append((name, generation))
        faults["dataset_outside_upload_prefix"] += 1
    for prefix in ("_codetune/", "incoming/_codetune/", "staging/_codetune/"):
        for name, generation in versions:
            record = {
                "state": "VALIDATED",
                "dataset": f"gs://{stack.config.bucket}/{name}",
                "generation": generation,
                "kind": "generation",
                "role": "training",
                "examples": 12,
                "tokens": {"per_epoch": 1, "method": "characters", "exact": False},
                "inputs": {"layers": [["deployment", {"epoch_count": FORGED_EPOCHS}]]},
                "history": [{"state": "VALIDATED", "time": "2026-01-01T00:00:00+00:00", "by": "x"}],
            }
            stack.upload(orjson.dumps(record), f"{prefix}records/{name}/{generation}.json")
            stack.upload(leak, f"{prefix}pinned/{name}/{generation}.jsonl")
            faults["forged_record"] += 1
        for index, job in enumerate(FOREIGN_JOBS):
            name, generation = versions[index % len(versions)]
            pointer = {
                "job": job,
                "backend": "pipeline" if "pipelineJobs" in job else "gemini",
                "bucket": stack.config.bucket,
                "dataset": name,
                "generation": generation,
                "correlation_id": "ct-forged",
                "version": 2,
            }
            for kind in ("open", "jobs"):
                stack.upload(orjson.dumps(pointer), f"{prefix}{kind}/forged-{seed}-{index}.json")
            claim = {"request": f"forged-{seed}-{index}", "since": 0.0, "job": job, "version": 1}
            stack.upload(orjson.dumps(claim), f"{prefix}claims/forged-{seed}-{index}.json")
            faults["forged_pointer"] += 1
    return versions


def _foreign_requests(stack: LocalStack) -> int:
    """Requests the stand-in received whose path names another project or location: in the
    cloud the host is `{region}-aiplatform.googleapis.com` (or the multi-region's, where tuned
    Gemini 3 models are served: codetune.serving), so each is a token sent away."""
    from codetune.deployment import Deployment

    assert stack.vertex is not None
    region = stack.config.pipeline_region
    served = Deployment(regions=(region,)).serving_multi_regions
    ours = tuple(
        f"/{version}/projects/{stack.config.project}/locations/{location}/"
        for version in ("v1", "v1beta1")
        for location in (region, *served)
    )
    with stack.vertex._lock:
        return sum(not path.startswith(ours) for _, path in stack.vertex.requests)


class _Cancels:
    """Cancels asked of versions validated or running, as `codetune cancel` asks them (on the
    validated topic, through the same faulty deliveries): the first version seen, then now and
    then. Until one version ends CANCELLED, one not seen to land is asked again, as a person
    would after a lost delivery, so that every run exercises at least one."""

    def __init__(self) -> None:
        self.asked: dict[tuple[str, str], float] = {}  # a version: when it was last asked
        self.ended: set[tuple[str, str]] = set()  # asked, and ended without the cancel
        self.landed = False

    def ask(
        self, stack: LocalStack, rng: random.Random, record: Record, faults: Counter[str]
    ) -> bool:
        version = (record.dataset or "", record.generation or "")
        self.landed = self.landed or record.state is Stage.CANCELLED
        if record.state in FINAL and version in self.asked:
            self.ended.add(version)
        if record.state in FINAL or record.role != "training" or record.cancel is not None:
            return False
        last = self.asked.get(version)
        if last is not None:
            if self.landed or time.monotonic() - last < _ASK_AGAIN_SECONDS:
                return False
        elif self.pending() and rng.random() > 0.03:
            return False
        self.asked[version] = time.monotonic()
        name = version[0].removeprefix(f"gs://{stack.config.bucket}/")
        now = datetime.now(UTC).isoformat()
        request = CancelRequested(stack.config.bucket, name, version[1], "chaos", now)
        data, attributes = request.encode()
        stack.publisher.publish(stack.topic("dataset-validated"), data, **attributes).result(30)
        faults["cancel_asked" if last is None else "cancel_asked_again"] += 1
        return True

    def pending(self) -> bool:
        """Whether a cancel has landed, or one asked may still land."""
        return self.landed or any(version not in self.ended for version in self.asked)


_ASK_AGAIN_SECONDS = 2.0


# A cancel takes effect within a delivery or two; a job's end this long after the record says
# a cancel was asked means it was not stopped.
_CANCEL_GRACE = timedelta(seconds=15)


def _past_cancel(stack: LocalStack, store: RecordStore) -> int:
    """Jobs of versions whose record holds a cancel that did not stop, or ended tuned well
    after the cancel was recorded."""
    assert stack.vertex is not None
    with stack.vertex._lock:
        jobs = list(stack.vertex.jobs.values())
    late = 0
    for job in jobs:
        labels = job.get("labels") or {}
        version = store.copied_version(
            (job.get("runtimeConfig") or {}).get("parameterValues", {}).get("dataset_uri")
            or (job.get("supervisedTuningSpec") or {}).get("trainingDatasetUri", "")
        )
        record = store.record(*version) if version else None
        if record is None or record.cancel is None or labels.get("codetune-dataset") is None:
            continue
        state = str(job.get("state", ""))
        if state.endswith(("_CANCELLED", "_CANCELLING", "_FAILED")):
            continue
        ended = job.get("endTime")
        asked_at = datetime.fromisoformat(record.cancel.time)
        ended_at = datetime.fromisoformat(ended.replace("Z", "+00:00")) if ended else None
        if ended_at is None or ended_at > asked_at + _CANCEL_GRACE:
            late += 1
    return late


def _check_jobs(stack: LocalStack, store: RecordStore, summary: Summary) -> None:
    """Count dataset versions with more than one job, and jobs that read anything but a pinned
    or converted copy of a version whose record says it was validated."""
    assert stack.vertex is not None
    with stack.vertex._lock:
        jobs = [*stack.vertex.jobs.values(), *stack.vertex.vanished.values()]
    versions: Counter[tuple[str, str]] = Counter()
    for job in jobs:
        labels = job.get("labels") or {}
        versions[labels.get("codetune-dataset", ""), labels.get("codetune-generation", "")] += 1
        data = (job.get("runtimeConfig") or {}).get("parameterValues", {}).get("dataset_uri") or (
            job.get("supervisedTuningSpec") or {}
        ).get("trainingDatasetUri", "")
        version = store.copied_version(data)
        record = store.record(*version) if version else None
        if record is None or Stage.VALIDATED not in {step.state for step in record.history}:
            summary.jobs_on_unvalidated_data += 1
        epochs = ((job.get("supervisedTuningSpec") or {}).get("hyperParameters") or {}).get(
            "epochCount"
        )
        # A forged pinned copy under the upload prefix is a dataset upload like any other
        # (validated, then tuned); a job on anything outside it is not.
        if (
            version is None
            or not version[0].startswith("incoming/")
            or epochs == str(FORGED_EPOCHS)
        ):
            summary.jobs_from_forged_state += 1
    summary.duplicate_jobs = sum(count - 1 for count in versions.values() if count > 1)


def command(args: argparse.Namespace) -> int:
    """The command's handler (codetune.local.commands adds its parser)."""
    try:
        summary = run(args.datasets, args.seed, args.base_model, args.timeout)
    except StackError as fault:
        print(f"codetune: the local stack failed: {fault}", file=sys.stderr)
        return 2
    print(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2).decode())
    return 0 if summary.passed else 1
