"""Cold start: each function's import against importing the libraries it uses, and what
publishing costs through Google's gRPC client against the REST API codetune uses.

    .venv/bin/python -m benchmarks.bench_coldstart [--repeat 7] [--publishes 50]

Every import is timed in a fresh interpreter (median of `--repeat`), as a new instance of a
function starts. Publishing is timed against the Pub/Sub emulator, `--publishes` messages one
after the other, each waited for, as validate does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codetune.local.stack import free_port, pubsub_emulator, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
# What each entry point imports from outside codetune (its own modules are the difference).
LIBRARIES = {
    "validate": "functions_framework, google.cloud.storage, google.auth.transport.requests, orjson, ahocorasick",
    "tune": "functions_framework, google.cloud.storage, google.auth.transport.requests, orjson",
    "status": "functions_framework, google.cloud.storage, google.auth.transport.requests, orjson",
    "sweep": "functions_framework, google.cloud.storage, google.auth.transport.requests, orjson, ahocorasick",
}
_PROBE = """
import resource, sys, time
sys.path.insert(0, {path!r})
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def timed_import(statement: str, path: str, repeat: int) -> tuple[float, float]:
    """Median seconds and median peak RSS (MiB) of running `statement` in a fresh interpreter."""
    seconds, memory = [], []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE.format(path=path, statement=statement)],
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")},
        ).stdout.split()
        seconds.append(float(out[0]))
        memory.append(int(out[1]) / 1024)
    return statistics.median(seconds), statistics.median(memory)


def publish_latency(publishes: int) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        emulator = subprocess.Popen(
            [pubsub_emulator(), "--host=127.0.0.1", f"--port={port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_for_port(port, 60, emulator)
            os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
            from google.cloud import pubsub_v1

            from codetune.pubsub import Publisher

            grpc = pubsub_v1.PublisherClient()
            topic = grpc.create_topic(name="projects/bench/topics/coldstart").name
            rest = Publisher()
            result = {}
            for label, send in (
                ("grpc", lambda: grpc.publish(topic, b"x", a="b").result(timeout=30)),
                ("rest", lambda: rest.publish(topic, b"x", {"a": "b"})),
            ):
                send()  # the first call opens the channel or the connection
                started = time.perf_counter()
                for _ in range(publishes):
                    send()
                result[label] = (time.perf_counter() - started) / publishes
            return result
        finally:
            os.killpg(emulator.pid, 15)
            emulator.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--publishes", type=int, default=50)
    args = parser.parse_args()
    functions = str(ROOT / "functions")
    print(f"median of {args.repeat} fresh interpreters")
    print(
        "| function | import of its libraries | import of the function | ratio | peak RSS, function |"
    )
    print("|---|---|---|---|---|")
    for name, libraries in LIBRARIES.items():
        base, _ = timed_import(f"import {libraries}", functions, args.repeat)
        whole, rss = timed_import(f"import {name}", functions, args.repeat)
        print(
            f"| {name} | {base * 1000:.0f} ms | {whole * 1000:.0f} ms | {whole / base:.2f}x | {rss:.0f} MiB |"
        )
    base, base_rss = timed_import(f"import {LIBRARIES['validate']}", functions, args.repeat)
    grpc, grpc_rss = timed_import(
        f"import {LIBRARIES['validate']}, google.cloud.pubsub_v1", functions, args.repeat
    )
    print()
    print(
        "| publishing | import cost on top of validate's libraries | peak RSS added | per publish (emulator) |"
    )
    print("|---|---|---|---|")
    latency = publish_latency(args.publishes)
    print(
        f"| gRPC client (google-cloud-pubsub) | {(grpc - base) * 1000:.0f} ms | {grpc_rss - base_rss:.0f} MiB | {latency['grpc'] * 1000:.1f} ms |"
    )
    print(
        f"| REST (codetune.pubsub, requests + google-auth) | 0 ms | 0 MiB | {latency['rest'] * 1000:.1f} ms |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
