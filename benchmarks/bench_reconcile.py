"""What one run of the reconciler costs at N datasets, against Cloud Storage (the storage
emulator), side by side with the way it used to work.

    .venv/bin/python -m benchmarks.bench_reconcile [--datasets 1000] [--unfinished 20]
        [--running 0] [--repeat 5]

Setup: N dataset uploads, each with a record written through `RecordStore.advance` (as the
functions write them), all at an end and announced but `--unfinished` of them (VALIDATED, tune
still to come) and `--running` (RUNNING: jobs under way, which the sweep's job loop follows,
their stuck report hours away). Then, taking turns, best of `--repeat`, wall seconds and requests:

- **baseline**: what the reconciler did before the index of unfinished work (2026-12-03): one
  listing of every upload and one of every record with its stage, then a read of each record
  not at an end;
- **reconcile**: `codetune.app.reconcile.reconcile` as the sweep runs it (a listing of the
  index, a read of each record whose entry is due and a write putting it back at its next due
  time; one window of 1,000 uploads and their records), each run a grace after the last so
  that the unfinished datasets are due at every run.

Both find the same work; the benchmark checks it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec.structs import replace

from benchmarks.emulators import storage_emulator
from codetune.app.reconcile import reconcile
from codetune.config import Settings
from codetune.logs import Logger
from codetune.state import FINAL, RecordStore, Stage
from codetune.state.records import Announced
from codetune.state.store import STAGE_METADATA
from codetune.storage import Storage

BUCKET = "bench-reconcile"
ANNOUNCED = Announced(message_id="1", time="2026-12-03T00:00:00+00:00")


class Counting(Storage):
    """The real storage client, counting the requests each method makes."""

    requests = 0

    def current(self, bucket: str, name: str) -> Any:
        self.requests += 1
        return super().current(bucket, name)

    def write_json(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super().write_json(*args, **kwargs)

    def delete(self, bucket: str, name: str) -> None:
        self.requests += 1
        super().delete(bucket, name)

    def read_json(self, bucket: str, name: str) -> Any:
        self.requests += 2  # metadata, then the bytes under a generation precondition
        return super().read_json(bucket, name)

    def list_objects(
        self, bucket: str, prefix: str, start: str = "", end: str = "", limit: int | None = None
    ) -> Any:
        self.requests += 1  # the first page, even when empty
        for index, listed in enumerate(super().list_objects(bucket, prefix, start, end, limit)):
            self.requests += index % 1000 == 999  # one more page per 1,000 objects
            yield listed


def baseline(storage: Counting, settings: Settings, store: RecordStore) -> int:
    """The reconciler's reads before the index; returns the datasets needing work."""
    list(storage.list_objects(BUCKET, settings.upload_prefix))
    work = 0
    for listed in storage.list_objects(store.bucket, f"{store.prefix}records/"):
        if listed.metadata.get(STAGE_METADATA) in {str(stage) for stage in FINAL}:
            continue
        document, _ = storage.read_json(store.bucket, listed.name)
        work += document is not None and document.get("state") == Stage.VALIDATED
    return work


def populate(
    storage: Storage, store: RecordStore, datasets: int, unfinished: int, running: int
) -> None:
    for index in range(datasets):
        name = f"incoming/bench-{index:05d}.jsonl"
        blob = storage.blob(BUCKET, name)
        blob.upload_from_string(b'{"input_text": "x", "output_text": "y"}\n')
        generation = str(blob.generation)
        store.advance(
            name, generation, Stage.VALIDATED, "validate",
            dataset=f"gs://{BUCKET}/{name}", role="training", kind="generation",
        )  # fmt: skip
        if unfinished <= index < unfinished + running:
            store.advance(name, generation, Stage.RUNNING, "status")
        elif index >= unfinished:  # ended, and its end announced, as the functions leave it
            store.advance(name, generation, Stage.REJECTED, "validate")
            store.update(name, generation, lambda r: r and replace(r, announced=ANNOUNCED))
            store.settled(name, generation)


def timed(run: Callable[[], int], storage: Counting) -> tuple[float, int, int]:
    storage.requests = 0
    started = time.perf_counter()
    work = run()
    return time.perf_counter() - started, storage.requests, work


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--unfinished", type=int, default=20)
    parser.add_argument("--running", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with storage_emulator():
        storage = Counting()
        storage.client.create_bucket(BUCKET)
        storage.client.create_bucket(f"{BUCKET}-state")
        settings = Settings.from_environment(
            {"CODETUNE_BUCKET": BUCKET, "CODETUNE_PROJECT": "bench"}
        )
        store = RecordStore.of(storage, settings)
        populate(storage, store, args.datasets, args.unfinished, args.running)
        runs = [datetime.now(UTC) + timedelta(minutes=10)]
        logging.getLogger("codetune").setLevel(logging.CRITICAL)  # time the work, not the logs
        log = Logger("bench")

        def current() -> int:
            # Each run a grace after the last: the unfinished datasets are due again (one
            # announced now is next due a grace later, codetune.state.due).
            now = runs[-1] + timedelta(seconds=settings.reconcile_grace_seconds + 1)
            runs.append(now)
            result = reconcile(storage, _Nowhere(), settings, log, {}, now=now)
            return result.announced + result.validated + result.stuck

        best: dict[str, tuple[float, int, int]] = {}
        for _ in range(args.repeat):
            for label, run in (("baseline", lambda: baseline(storage, settings, store)),
                               ("reconcile", current)):  # fmt: skip
                measured = timed(run, storage)
                if label not in best or measured[0] < best[label][0]:
                    best[label] = measured
        print(
            f"{args.datasets} datasets, {args.unfinished} unfinished, {args.running} running; "
            f"best of {args.repeat}"
        )
        for label, (seconds, requests, work) in best.items():
            print(f"{label:10} {seconds:7.2f} s  {requests:6} requests  {work} needing work")
        ratio = best["baseline"][0] / best["reconcile"][0]
        print(f"reconcile is {ratio:.1f}x faster")
        return 0 if best["baseline"][2] == best["reconcile"][2] else 1


class _Nowhere:
    """A publisher that drops what it is given (the benchmark measures storage, not Pub/Sub)."""

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        return "0"


if __name__ == "__main__":
    sys.exit(main())
