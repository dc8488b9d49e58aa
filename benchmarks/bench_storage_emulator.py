"""What one request to the local stack's storage emulator costs as its bucket fills: the part
of the chain's throughput that is the emulator's, not codetune's.

    .venv/bin/python -m benchmarks.bench_storage_emulator [--objects 1000,10000,20000]
        [--requests 300]

fake-gcs-server (the memory backend, as the local stack runs it) with one bucket filled to
each `--objects` count of small JSON objects, the way the state bucket fills during a load
run. At each size, `--requests` of each kind the functions make (a metadata read, a write, a
one-page listing of a prefix holding 10 objects), best of three, side by side with the same
requests on an empty bucket of the same emulator (the baseline). Cloud Storage's cost per
request does not grow with the bucket; a cost here that does is the emulator's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from benchmarks.emulators import storage_emulator
from codetune.storage import Storage

FULL, EMPTY = "bench-emulator-full", "bench-emulator-empty"
PROBE = "probe/"  # the prefix the requests work under: 10 objects in both buckets


def fill(storage: Storage, bucket: str, start: int, stop: int) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: storage.write_json(bucket, f"filler/{i:06d}.json", {"i": i}),
                range(start, stop),
            )
        )


def per_request(storage: Storage, bucket: str, requests: int) -> dict[str, float]:
    """Milliseconds a request of each kind, best of three."""
    kinds: dict[str, Callable[[int], object]] = {
        "read": lambda i: storage.current(bucket, f"{PROBE}{i % 10}.json"),
        "write": lambda i: storage.write_json(bucket, f"{PROBE}{i % 10}.json", {"i": i}),
        "list": lambda i: list(storage.list_objects(bucket, PROBE)),
    }
    best: dict[str, float] = {}
    for kind, request in kinds.items():
        for _ in range(3):
            started = time.perf_counter()
            for i in range(requests):
                request(i)
            took = (time.perf_counter() - started) * 1000 / requests
            best[kind] = min(best.get(kind, took), took)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", default="1000,10000,20000")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.objects.split(","))
    with storage_emulator():
        storage = Storage()
        for bucket in (FULL, EMPTY):
            storage.client.create_bucket(bucket)
            for i in range(10):
                storage.write_json(bucket, f"{PROBE}{i}.json", {"i": i})
        print("objects in the bucket | kind | ms a request (empty bucket) | ms a request (full)")
        filled, ratios = 0, []
        for size in sizes:
            fill(storage, FULL, filled, size)
            filled = size
            empty = per_request(storage, EMPTY, args.requests)
            full = per_request(storage, FULL, args.requests)
            for kind in full:
                ratios.append(full[kind] / empty[kind])
                print(f"{size:>8} | {kind:5} | {empty[kind]:7.2f} | {full[kind]:7.2f}")
        print(f"at {sizes[-1]} objects a request costs up to {max(ratios):.1f}x an empty bucket's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
