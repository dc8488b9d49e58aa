"""What `codetune runs` costs at N records, against Cloud Storage (the storage emulator), side by
side with reading every record to build the same table.

    .venv/bin/python -m benchmarks.bench_runs [--records 10000] [--limit 50] [--repeat 3]

Setup: N records written through `RecordStore.advance` (as the functions write them), a tenth
of them REJECTED. Then, taking turns, best of `--repeat`, wall seconds and requests:

- **baseline**: list the records, read every one, keep the newest `--limit` that match;
- **runs**: `codetune.runs.runs` (one paged listing, whose metadata carries each stage; reads
  of only the rows shown), unfiltered and filtered by stage.

Both give the same rows; the benchmark checks that before it reports.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from benchmarks.bench_reconcile import Counting
from benchmarks.emulators import storage_emulator
from codetune.config import Settings
from codetune.runs import Run, row, runs
from codetune.state import Record, RecordStore, Stage

BUCKET = "bench-runs"


def baseline(storage: Counting, store: RecordStore, limit: int, stage: str | None) -> list[Run]:
    records = []
    for listed in storage.list_objects(store.bucket, f"{store.prefix}records/"):
        document, _ = storage.read_json(store.bucket, listed.name)
        if document is not None:
            records.append(Record.from_json(document))
    chosen = [r for r in records if stage is None or str(r.state) == stage]
    chosen.sort(key=lambda r: int(r.generation or 0), reverse=True)
    return [row(r) for r in chosen[:limit]]


def populate(store: RecordStore, count: int) -> None:
    for index in range(count):
        name, generation = f"incoming/bench-{index:05d}.jsonl", str(1_000_000 + index)
        store.advance(
            name, generation, Stage.VALIDATED, "validate",
            dataset=f"gs://{BUCKET}/{name}", generation=generation, examples=12,
        )  # fmt: skip
        if index % 10 == 0:
            store.advance(name, generation, Stage.REJECTED, "validate")


def timed(run: Callable[[], list[Run]], storage: Counting) -> tuple[float, int, list[Run]]:
    storage.requests = 0
    started = time.perf_counter()
    rows = run()
    return time.perf_counter() - started, storage.requests, rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with storage_emulator():
        storage = Counting()
        settings = Settings(project="bench", bucket=BUCKET)
        for bucket in (BUCKET, settings.state):
            storage.client.create_bucket(bucket)
        store = RecordStore.of(storage, settings)
        populate(store, args.records)
        print(f"{args.records:,} records, the newest {args.limit} shown; best of {args.repeat}")
        for stage in (None, "REJECTED"):
            best: dict[str, tuple[float, int, list[Run]]] = {}
            for _ in range(args.repeat):
                for label, run in (
                    ("baseline", lambda s=stage: baseline(storage, store, args.limit, s)),
                    ("runs", lambda s=stage: runs(store, stage=s, limit=args.limit)),
                ):
                    measured = timed(run, storage)
                    if label not in best or measured[0] < best[label][0]:
                        best[label] = measured
            if best["baseline"][2] != best["runs"][2]:
                print("the two tables differ", file=sys.stderr)
                return 1
            shown = f"--stage {stage}" if stage else "all stages"
            for label, (seconds, requests, _) in best.items():
                print(f"{shown:16} {label:9} {seconds:7.2f} s  {requests:6} requests")
            print(f"{shown:16} runs is {best['baseline'][0] / best['runs'][0]:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
