"""Benchmark: the largest dataset validate is given, against the time it has.

    python -m benchmarks.bench_largest [--megabytes 1000] [--kind generation] [--near-duplicates]
                                       [--validation-seconds 420]

A realistic dataset (`realistic.py`, repeated from its seed) of `--megabytes` (Gemini's largest
training file is 1 GB), validated as the validate function validates it: the default model's
rules, the secret scan, `--validation-seconds` as the time limit (rule `time-limit`) and, with
`--near-duplicates`, the opt-in search with half of it. Reports CPU and wall time, the share of
the limit used, the same scaled to validate's CPU (0.583 vCPU at 1 GiB, Google's table; assumed
as fast as a core here), whether the pass was complete, and peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from itertools import count
from pathlib import Path

from benchmarks import realistic
from codetune.config import Settings
from codetune.dataset import DatasetKind, validate_stream
from codetune.dataset.checks import TimeShare
from codetune.dataset.near import NearDuplicates
from codetune.tuning.backends import default_rules

VALIDATE_VCPU = 0.583  # 1 GiB: https://cloud.google.com/functions/docs/configuring/memory


def build(path: Path, megabytes: float, kind: DatasetKind) -> tuple[int, int]:
    """Realistic examples, one seed after another, until the file holds `megabytes`."""
    lines = realistic.generation_lines if kind is DatasetKind.GENERATION else realistic.chat_lines
    size = examples = 0
    with path.open("wb") as out:
        for seed in count(1):
            for line in lines(seed=seed):
                out.write(line + b"\n")
                size += len(line) + 1
                examples += 1
                if size >= megabytes * 1e6:
                    return size, examples
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1000)
    parser.add_argument("--kind", choices=["generation", "chat"], default="generation")
    parser.add_argument("--near-duplicates", action="store_true")
    parser.add_argument(
        "--validation-seconds", type=float, default=Settings(project="").validation_seconds
    )
    args = parser.parse_args(argv)
    kind = DatasetKind(args.kind)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"largest-{kind}.jsonl"
        size, examples = build(path, args.megabytes, kind)
        limit = args.validation_seconds
        checks = [NearDuplicates(time=TimeShare(limit / 2))] if args.near_duplicates else []
        wall, cpu = time.monotonic(), time.process_time()
        with path.open("rb") as stream:
            report = validate_stream(
                stream, str(path), rules=default_rules(), checks=checks, time_limit=limit
            ).to_dict()
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats = report["stats"]
    near = stats.get("near_duplicates", {})
    print(f"{size / 1e6:,.0f} MB, {examples:,} realistic {kind} examples; limit {limit:g} s")
    print("| checked | CPU s | wall s | MB/s | of the limit | at 0.583 vCPU, of the limit | "
          "complete | near-duplicates stopped at line | peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    # The search stops on the wall clock, whatever the CPU: a slower CPU shortens it, not the
    # validation, so scaling its CPU time would say nothing.
    scaled = "-" if near else f"{cpu / VALIDATE_VCPU / limit:.0%}"
    print(
        f"| {stats['lines']:,} lines | {cpu:.1f} | {wall:.1f} | {stats['bytes'] / 1e6 / cpu:.0f} "
        f"| {wall / limit:.0%} | {scaled} | {stats['complete']} "
        f"| {near.get('stopped_at_line') if near else 'off'} | {peak:.0f} MiB |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
