"""`codetune chaos`: the whole chain on the local stack with faults injected at random, and one
JSON summary of what came of every dataset.

Faults, drawn from `--seed`: Vertex AI answering 429/503, job events lost, storage events
delivered twice, "dataset validated" messages delivered twice and forged for versions that were
never validated, hostile metadata (a project of the uploader's choosing), invalid datasets, and
datasets overwritten while their job runs. The run passes (exit 0) only when no dataset is lost,
no dataset version has two jobs, no job reads data that was not validated, and every dataset
ended tuned or failed.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from codetune.dataset import DatasetKind, DatasetRole
from codetune.local.stack import LocalStack, StackConfig, StackError
from codetune.messages import DatasetValidated
from codetune.state import FINAL, RecordStore, Stage
from codetune.storage import Storage


@dataclass
class Summary:
    datasets: int = 0
    tuned: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # dataset version -> recorded reason
    lost: list[str] = field(default_factory=list)
    duplicate_jobs: int = 0
    jobs_on_unvalidated_data: int = 0
    tuned_with_hostile_settings: int = 0  # uploads that named a project of their own
    faults_injected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            not self.lost
            and self.duplicate_jobs == 0
            and self.jobs_on_unvalidated_data == 0
            and self.tuned_with_hostile_settings == 0
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


def _dataset(rng: random.Random, valid: bool) -> bytes:
    lines = [_example(rng, i) for i in range(rng.randint(12, 30))]
    if not valid:
        lines[rng.randrange(len(lines))] = b'{"input_text": 7}'
    return b"".join(line + b"\n" for line in lines)


def run(datasets: int, seed: int, base_model: str | None, timeout: float) -> Summary:
    rng = random.Random(seed)
    summary = Summary()
    started = time.monotonic()
    # The stand-in lists jobs consistently: a dead delivery's claim may be taken over sooner.
    config = StackConfig(
        extra_env={"CODETUNE_RECONCILE_GRACE_SECONDS": "4", "CODETUNE_CLAIM_TIMEOUT_SECONDS": "20"}
    )
    with LocalStack(config) as stack:
        assert stack.vertex is not None
        faults = summary.faults_injected
        vertex = stack.vertex

        def lose() -> bool:
            if rng.random() < 0.3:
                faults["job_event_lost"] += 1
                return True
            return False

        vertex.lose_event = lose
        model = {"codetune-large_model_reference": base_model} if base_model else {}
        uploads: list[tuple[str, str]] = []
        hostile: set[tuple[str, str]] = set()
        rejected: list[tuple[str, str]] = []  # invalid versions, for forged messages
        for index in range(datasets):
            name = f"incoming/chaos-{seed}-{index}.jsonl"
            valid = rng.random() > 0.2
            metadata = dict(model)
            steered = rng.random() < 0.15
            if steered:
                metadata["codetune-project"] = "attacker-project"
                faults["hostile_metadata"] += 1
            if not valid:
                faults["invalid_dataset"] += 1
            if rng.random() < 0.2:
                vertex.inject_faults(rng.choice([429, 503]))
                faults["vertex_unavailable"] += 1
            uploads.append((name, stack.upload(_dataset(rng, valid), name, metadata or None)))
            if steered:
                hostile.add(uploads[-1])
            if not valid:
                rejected.append(uploads[-1])
        # Storage events delivered twice (once they have arrived at all).
        arrived = time.monotonic() + 20
        while (
            stack.eventarc
            and len(stack.eventarc.notifications) < datasets
            and time.monotonic() < arrived
        ):
            time.sleep(0.2)
        # Messages forged for versions never validated.
        for message in list(stack.eventarc.notifications if stack.eventarc else [])[
            : datasets // 3
        ]:
            stack.publisher.publish(
                stack.topic("gcs-notifications"),
                base64.b64decode(message.get("data") or b""),
                **(message.get("attributes") or {"eventType": "OBJECT_FINALIZE"}),
            ).result(timeout=30)
            faults["storage_event_duplicated"] += 1
        # Messages forged for versions that were rejected, and for one that was never uploaded.
        targets = [*rejected, (f"incoming/forged-{seed}.jsonl", "1")]
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
        store = RecordStore(Storage(), stack.config.bucket)
        deadline = time.monotonic() + timeout
        overwritten: set[str] = set()
        while time.monotonic() < deadline:
            pending = 0
            for name, generation in list(uploads):
                record = store.record(name, generation)
                if record is None or record.state not in FINAL:
                    pending += 1
                if (
                    record is not None
                    and record.state is Stage.SUBMITTED
                    and name not in overwritten
                    and rng.random() < 0.2
                ):
                    overwritten.add(name)
                    uploads.append((name, stack.upload(_dataset(rng, False), name, model or None)))
                    faults["dataset_overwritten_while_tuning"] += 1
            if not pending:
                break
            time.sleep(0.5)
        summary.datasets = len(uploads)
        for name, generation in uploads:
            record = store.record(name, generation)
            key = f"{name}#{generation}"
            if record is None or record.state not in FINAL:
                summary.lost.append(f"{key}: {record.state if record else 'no record'}")
            elif record.state is Stage.SUCCEEDED:
                summary.tuned += 1
                summary.tuned_with_hostile_settings += (name, generation) in hostile
            else:
                error = record.error or {}
                reasons = [p.get("rule") for p in error.get("problems") or []]
                summary.failed[key] = (
                    f"{record.state}: {', '.join(map(str, reasons)) or error.get('message') or (record.first_errors or [{}])[0].get('rule')}"
                )
        _check_jobs(stack, store, summary)
    summary.seconds = time.monotonic() - started
    return summary


def _check_jobs(stack: LocalStack, store: RecordStore, summary: Summary) -> None:
    """Count dataset versions with more than one job, and jobs that read anything but a pinned
    or converted copy of a version whose record says it was validated."""
    assert stack.vertex is not None
    with stack.vertex._lock:
        jobs = list(stack.vertex.jobs.values())
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
    summary.duplicate_jobs = sum(count - 1 for count in versions.values() if count > 1)


def register(commands: Any) -> None:
    """Add `codetune chaos` (entry point "codetune.commands": chaos)."""
    chaos = commands.add_parser(
        "chaos",
        help="run the chain on the local stack with faults injected at random",
        description="Drop N datasets into the local stack while faults are injected from SEED; "
        "print one JSON summary. Exit 0 only if nothing is lost, duplicated or tuned on data "
        "that was not validated.",
    )
    chaos.add_argument("--datasets", type=int, default=20, metavar="N")
    chaos.add_argument("--seed", type=int, default=1)
    chaos.add_argument("--base-model", help="e.g. code-bison@002 (default: the default model)")
    chaos.add_argument("--timeout", type=float, default=300)
    chaos.add_argument("--json", action="store_true", help="print only the JSON summary")
    chaos.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    try:
        summary = run(args.datasets, args.seed, args.base_model, args.timeout)
    except StackError as fault:
        print(f"codetune: the local stack failed: {fault}", file=sys.stderr)
        return 2
    print(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2).decode())
    return 0 if summary.passed else 1
