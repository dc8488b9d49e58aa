"""Every benchmark runs, once, at a small size: benchmarks are not timed tests, but they must
not rot. (Their figures come from full-size runs, in benchmarks/README.md.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BENCHMARKS = [
    ("bench_validate", ["--scale", "0.01", "--repeat", "1"], "codetune vs jsonschema"),
    ("bench_instruction", ["--scale", "0.02", "--repeat", "1"], "speed-up"),
    (
        "bench_reconcile",
        ["--datasets", "20", "--unfinished", "3", "--running", "2", "--repeat", "1"],
        "faster",
    ),
    ("bench_runs", ["--records", "30", "--limit", "5", "--repeat", "1"], "runs is"),
    (
        "bench_sweep",
        ["--open", "12", "--ended-today", "3", "--ended-before", "5", "--repeat", "1"],
        "fewer requests",
    ),
    ("bench_chaos", ["--datasets", "3", "--timeout", "240"], "passed: True"),
    ("bench_latency", ["--datasets", "1"], "upload → tuned model recorded"),
    ("bench_throughput", ["--drops", "4", "--timeout", "120"], "a minute"),
    ("bench_storage_emulator", ["--objects", "200,400", "--requests", "20"], "costs up to"),
    ("bench_coldstart", ["--repeat", "1", "--publishes", "3"], "per publish"),
    ("bench_read_chunks", ["--repeat", "1", "--scale", "0.02"], "local file"),
    ("bench_largest", ["--megabytes", "1", "--near-duplicates"], "of the limit"),
    ("bench_eval_page", ["--examples", "40", "--repeat", "1"], "worst case"),
]


@pytest.mark.parametrize(("module", "args", "expected"), BENCHMARKS, ids=[b[0] for b in BENCHMARKS])
def test_the_benchmark_runs(module: str, args: list[str], expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert expected in result.stdout
