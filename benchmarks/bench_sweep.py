"""What one sweep costs in Vertex AI requests and seconds at N open Gemini jobs, side by side
with the way it read them before: one tuningJobs.get a job.

    .venv/bin/python -m benchmarks.bench_sweep [--open 1000] [--ended-today 500]
        [--ended-before 2000] [--repeat 3]

Setup: the Vertex AI stand-in in a process of its own (its work does not share this one's
interpreter) holds `--open` RUNNING jobs of one upload day, `--ended-today` ended jobs of the
same day (the same `codetune-sweep` label, spread among them), and `--ended-before` ended jobs
of earlier days; each body is the one codetune plans. Each open job has its pointer and its
record in the state bucket (the storage emulator). One sweep first brings every record to
RUNNING; then, taking turns, best of `--repeat`:

- **get-per-job**: the sweep's loop before the list (2026-12-04): `record_outcome` on each
  open pointer, one `tuningJobs.get` each;
- **list**: `codetune.app.status.sweep` as shipped.

Vertex AI requests are counted as the client sends them; seconds are the sweep's wall time and,
of it, the time spent waiting on Vertex AI. Both must read every open job and leave every
record RUNNING; the benchmark checks.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import requests

from benchmarks.emulators import storage_emulator
from codetune.app.status import SweepResult, record_outcome, sweep
from codetune.config import Settings
from codetune.dataset import DatasetKind
from codetune.deployment import Deployment
from codetune.logs import Logger
from codetune.state import JobPointer, JobRef, RecordStore, Stage
from codetune.storage import Storage
from codetune.tuning.backends import plan_from_sources
from codetune.tuning.common import DatasetRef
from codetune.vertex import VertexClient, VertexConfig

BUCKET, PROJECT, REGION = "bench-sweep", "bench-project", "us-central1"
DAY = 1_764_547_200_000_000  # 2025-12-01, as a Cloud Storage generation (microseconds)
EARLIER = DAY - 30 * 86_400_000_000


def body(index: int, generation: int) -> dict[str, Any]:
    plan = plan_from_sources(
        DatasetRef(f"gs://{BUCKET}/incoming/bench-{index:05d}.jsonl", str(generation)),
        DatasetKind.GENERATION,
        100,
        [("deployment", {"project": PROJECT, "pipeline_region": REGION})],
        state_bucket=f"{BUCKET}-state",
    )
    return dict(plan.body)


def serve(connection: Connection, open_jobs: int, ended_today: int, ended_before: int) -> None:
    """The stand-in's process: make the jobs, send the URL and the open jobs, serve until told."""
    from codetune.local.vertex_standin import VertexStandIn, now

    standin = VertexStandIn(step_seconds=10**7).start()  # nothing moves on its own
    today = open_jobs + ended_today
    every = today // ended_today if ended_today else 0
    opened: list[tuple[str, int, int]] = []  # (job, dataset index, generation)
    with standin._lock:
        for index in range(today + ended_before):
            generation = DAY + index if index < today else EARLIER + index
            name = f"projects/{PROJECT}/locations/{REGION}/tuningJobs/{next(standin._ids)}"
            job = standin._register(name, body(index, generation), "JOB_STATE_SUCCEEDED")
            if index < today and not (every and index % every == every - 1):
                job.update(state="JOB_STATE_RUNNING", startTime=now())
                opened.append((name, index, generation))
    connection.send((standin.url, opened[:open_jobs]))
    connection.recv()
    standin.stop()


class Timed(requests.Session):
    """The client's session, counting requests and the seconds spent waiting on them."""

    requests = 0
    seconds = 0.0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        started = time.perf_counter()
        try:
            return super().request(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def get_per_job(store: RecordStore, vertex: VertexClient, log: Logger) -> SweepResult:
    """The sweep's job loop as it was: one read a job."""
    jobs = 0
    for pointer in store.open_jobs(lambda name, fault: None):
        record_outcome(pointer, store, vertex, "sweep", log)
        jobs += 1
    return SweepResult(jobs)


def populate(store: RecordStore, opened: list[tuple[str, int, int]]) -> None:
    for job, index, generation in opened:
        name = f"incoming/bench-{index:05d}.jsonl"
        store.advance(
            name, str(generation), Stage.SUBMITTED, "tune",
            dataset=f"gs://{BUCKET}/{name}", role="training", kind="generation",
            backend="gemini", job=JobRef(job, job.rpartition("/")[2], "JOB_STATE_PENDING"),
        )  # fmt: skip
        store.open_job(JobPointer(job, "gemini", BUCKET, name, str(generation), "ct-bench"))


def running(store: RecordStore, opened: list[tuple[str, int, int]]) -> bool:
    """Every open job's record RUNNING (read after the measured sweeps)."""
    for _, index, generation in opened:
        record = store.record(f"incoming/bench-{index:05d}.jsonl", str(generation))
        if record is None or record.state is not Stage.RUNNING:
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--ended-today", type=int, default=500)
    parser.add_argument("--ended-before", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(
        target=serve, args=(theirs, args.open, args.ended_today, args.ended_before)
    )
    server.start()
    try:
        url, opened = ours.recv()
        with storage_emulator():
            return measure(args, url, opened)
    finally:
        ours.send("stop")
        server.join(30)


def measure(args: argparse.Namespace, url: str, opened: list[tuple[str, int, int]]) -> int:
    storage = Storage()
    storage.client.create_bucket(BUCKET)
    storage.client.create_bucket(f"{BUCKET}-state")
    settings = Settings.from_environment({"CODETUNE_BUCKET": BUCKET, "CODETUNE_PROJECT": PROJECT})
    store = RecordStore.of(storage, settings)
    populate(store, opened)
    session = Timed()
    deployment = Deployment((PROJECT,), (REGION,))
    vertex = VertexClient(VertexConfig(endpoint=url, deployment=deployment, max_attempts=1))
    vertex._session = session
    logging.getLogger("codetune").setLevel(logging.CRITICAL)  # time the work, not the logs
    log = Logger("bench")
    sweep(store, vertex, log)  # every record RUNNING: the runs below write nothing

    def timed(run: Callable[[], SweepResult]) -> tuple[float, int, float, int]:
        session.requests, session.seconds = 0, 0.0
        started = time.perf_counter()
        result = run()
        return time.perf_counter() - started, session.requests, session.seconds, result.jobs

    best: dict[str, tuple[float, int, float, int]] = {}
    ways = (("get-per-job", lambda: get_per_job(store, vertex, log)),
            ("list", lambda: sweep(store, vertex, log)))  # fmt: skip
    for _ in range(args.repeat):
        for label, run in ways:
            measured = timed(run)
            if label not in best or measured[0] < best[label][0]:
                best[label] = measured
    print(
        f"{len(opened)} open jobs, {args.ended_today} ended of their day, "
        f"{args.ended_before} ended before; best of {args.repeat}"
    )
    for label, (seconds, sent, waiting, jobs) in best.items():
        print(
            f"{label:12} {seconds:6.2f} s  {sent:5} Vertex AI requests  "
            f"{waiting:6.2f} s waiting on them  {jobs} jobs read"
        )
    fewer = best["get-per-job"][1] / max(best["list"][1], 1)
    print(f"list sends {fewer:.0f}x fewer requests")
    read_all = all(jobs == len(opened) for _, _, _, jobs in best.values())
    return 0 if read_all and running(store, opened) else 1


if __name__ == "__main__":
    sys.exit(main())
