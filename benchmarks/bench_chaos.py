"""Throughput of the whole chain under injected faults: `codetune chaos` at a large N.

    .venv/bin/python -m benchmarks.bench_chaos [--datasets 1000] [--seed 1] [--base-model M]

Prints the chaos summary and the throughput (datasets brought to an end per second of wall
time, on the local stack: emulators, stand-ins and the four functions on this machine).
"""

from __future__ import annotations

import argparse
import sys

from codetune.local.chaos import run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base-model")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    summary = run(args.datasets, args.seed, args.base_model, args.timeout)
    report = summary.to_json()
    ended = summary.tuned + len(summary.failed)
    print(
        f"datasets {summary.datasets}, ended {ended}, lost {len(summary.lost)}, "
        f"duplicate jobs {summary.duplicate_jobs}, jobs on unvalidated data "
        f"{summary.jobs_on_unvalidated_data}, faults {sum(summary.faults_injected.values())}"
    )
    print(
        f"{summary.seconds:.1f} s, {ended / summary.seconds:.1f} datasets/s; passed: {report['passed']}"
    )
    return 0 if summary.passed else 1


if __name__ == "__main__":
    sys.exit(main())
