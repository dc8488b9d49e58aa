"""Throughput of the whole chain as load grows: N datasets dropped at once on the local stack
(emulators, stand-ins and the five functions on this machine), no faults.

    .venv/bin/python -m benchmarks.bench_throughput [--drops 300] [--timeout 900]
        [--sweep-seconds 1]

Uploads N small valid datasets from 8 threads, then reads the stages of every record from one
listing a second until all have ended (or the time-out). Prints the seconds, the datasets
tuned a minute, the stages left at the end and the duplicate jobs (the stand-in's jobs per
dataset). Run it with PYTHONPATH pointing at an older checkout's shared/ for its baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from codetune.local.stack import LocalStack, StackConfig
from codetune.state.store import STAGE_METADATA
from codetune.storage import Storage
from tests.support import dataset, generation_dataset

FINAL = {"SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drops", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--sweep-seconds",
        type=float,
        default=StackConfig().sweep_seconds,
        help="how often Cloud Scheduler's stand-in calls the sweep (the stack's default: every "
        "second; a deployment's: every minute)",
    )
    args = parser.parse_args()
    data = dataset(generation_dataset(12))
    config = StackConfig(step_seconds=1.0, sweep_seconds=args.sweep_seconds)
    with LocalStack(config) as stack:
        assert stack.vertex is not None
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: stack.upload(data, f"incoming/load/{i:05d}.jsonl"), range(args.drops)
                )
            )
        storage = Storage()
        stages: Counter[str] = Counter()
        while time.monotonic() - started < args.timeout:
            listed = storage.list_objects(stack.state_bucket, "_codetune/records/incoming/load/")
            stages = Counter(o.metadata.get(STAGE_METADATA, "?") for o in listed)
            if sum(stages[s] for s in FINAL) >= args.drops:
                break
            time.sleep(1)
        seconds = time.monotonic() - started
        with stack.vertex._lock:
            jobs = Counter(
                (j.get("supervisedTuningSpec") or {}).get("trainingDatasetUri", "").split("/")[-3]
                for j in stack.vertex.jobs.values()
            )
    tuned = stages["SUCCEEDED"]
    print(
        f"{args.drops} drops: {tuned} tuned in {seconds:.0f} s, {tuned / seconds * 60:.0f} a "
        f"minute; stages {dict(stages)}; duplicate jobs {sum(n - 1 for n in jobs.values())}"
    )
    return 0 if tuned == args.drops else 1


if __name__ == "__main__":
    sys.exit(main())
