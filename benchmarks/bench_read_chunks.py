"""Reading a dataset from Cloud Storage (the storage emulator) in chunks of different sizes,
validated as it streams, against validating the same file from local disk.

    .venv/bin/python -m benchmarks.bench_read_chunks [--repeat 6] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.datasets import generation_examples, write
from benchmarks.emulators import storage_emulator
from codetune.dataset import DatasetKind, validate_stream
from codetune.tuning.backends import default_rules

CHUNKS_MIB = (1, 4, 8, 16)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    with storage_emulator():
        from codetune.storage import Storage

        storage = Storage()
        storage.client.create_bucket("bench-chunks")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "large-generation.jsonl"
            write(path, generation_examples(max(20, int(10_000 * args.scale)), example_bytes=5_200))
            storage.blob("bench-chunks", "large.jsonl").upload_from_filename(str(path))
            live = storage.current("bench-chunks", "large.jsonl")
            assert live is not None
            best = dict.fromkeys(CHUNKS_MIB, float("inf"))
            local = float("inf")
            for _ in range(args.repeat):
                for mib in CHUNKS_MIB:
                    blob = storage.blob("bench-chunks", "large.jsonl", live.generation)
                    started = time.process_time()
                    with blob.open("rb", chunk_size=mib * 2**20) as reader:
                        validate_stream(reader, DatasetKind.GENERATION, rules=default_rules())
                    best[mib] = min(best[mib], time.process_time() - started)
                started = time.process_time()
                with path.open("rb") as reader:
                    validate_stream(reader, DatasetKind.GENERATION, rules=default_rules())
                local = min(local, time.process_time() - started)
            size = path.stat().st_size / 1e6
        print(f"{size:.1f} MB, CPU time, best of {args.repeat} interleaved rounds")
        print("| read | CPU s | vs local file |")
        print("|---|---|---|")
        for mib, seconds in best.items():
            print(f"| Cloud Storage, {mib} MiB chunks | {seconds:.2f} | {seconds / local:.2f}x |")
        print(f"| local file | {local:.2f} | 1.00x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
