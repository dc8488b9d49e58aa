"""Cold start: each function's import against importing the libraries it uses, and what
publishing costs through Google's gRPC client against the REST API codetune uses.

    .venv/bin/python -m benchmarks.bench_coldstart [--repeat 7] [--publishes 50] [--instructions]

Every import is timed in a fresh interpreter (CPU time, median of `--repeat`, the variants
taking turns), as a new instance of a function starts, from a folder laid out as deploy.sh
lays out a function's source (main.py beside codetune): once with the bytecode deploy.sh
compiles, once from the source alone (`python -B`, the interpreter compiling every module).
The libraries come from site-packages, whose bytecode pip compiled; grpc is hidden from both,
as deployed functions do not install grpcio (deploy/requirements.txt) and google-cloud-storage
imports it only where it finds it. `--instructions` also counts each import with valgrind's
callgrind. Publishing is timed against the Pub/Sub emulator, `--publishes` messages one after
the other, each waited for, as validate does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import re
import shutil
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
# Deployed functions have no grpcio (no google-cloud-pubsub): without this, google-cloud-storage
# would import grpc in the development environment, 70 to 90 ms the functions never spend.
AS_DEPLOYED = "import sys; sys.modules['grpc'] = None; "
# CPU time (user + system) of the import: a shared machine's other tenants move wall time by
# a third between identical runs, and an import is all CPU once the files are cached.
_PROBE = """
import resource, sys, time
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, {path!r})
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
started = cpu()
{statement}
elapsed = cpu() - started
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


# What a deployed function starts with (deploy.sh sets these).
DEPLOYED = {
    "CODETUNE_BUCKET": "bench-drop",
    "CODETUNE_PROJECT": "bench",
    "CODETUNE_PROJECT_NUMBER": "1",
    "CODETUNE_PIPELINE_REGION": "us-central1",
}


def _fresh_interpreter(
    statement: str, path: str, compile: bool, wrapper: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run `statement` in a fresh interpreter (under `wrapper`, if any) with `path` first on
    sys.path; `compile`: the interpreter compiles what has no bytecode, and writes none."""
    return subprocess.run(
        [
            *wrapper,
            sys.executable,
            *(["-B"] if compile else []),
            "-c",
            _PROBE.format(path=path, statement=statement),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")},
            **DEPLOYED,  # a function refuses to start without its deployment's settings
        },
    )


def _probe(statement: str, path: str, compile: bool = False) -> tuple[float, float]:
    out = _fresh_interpreter(statement, path, compile).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def counted_imports(probes: list[tuple[str, str, bool]]) -> list[float]:
    """Instructions (millions) of each probe's import, counted by valgrind's callgrind, less an
    empty interpreter's: identical from run to run where CPU time moves by a tenth."""
    callgrind = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")

    def count(statement: str, path: str, compile: bool) -> float:
        run = _fresh_interpreter(statement, path, compile, callgrind)
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            raise RuntimeError(f"no count from callgrind: {run.stderr[-500:]}")
        return int(found.group(1)) / 1e6

    empty = count("pass", ".", False)
    return [count(*probe) - empty for probe in probes]


def timed_imports(probes: list[tuple[str, str, bool]], repeat: int) -> list[tuple[float, float]]:
    """Median CPU seconds and median peak RSS (MiB) of each probe (statement, path, compile) in
    a fresh interpreter, the probes taking turns so that a busy spell hits them alike."""
    runs: list[list[tuple[float, float]]] = [[] for _ in probes]
    for _ in range(repeat):
        for index, probe in enumerate(probes):
            runs[index].append(_probe(*probe))
    return [
        (statistics.median(s for s, _ in each), statistics.median(m for _, m in each))
        for each in runs
    ]


def function_source(folder: Path, function: str, bytecode: bool) -> str:
    """A function's source as deploy.sh builds it (main.py beside codetune), with or without
    the bytecode deploy.sh compiles."""
    source = folder / f"{function}-{'bytecode' if bytecode else 'source'}"
    source.mkdir()
    shutil.copy(ROOT / "functions" / f"{function}.py", source / "main.py")
    shutil.copytree(
        ROOT / "shared" / "codetune",
        source / "codetune",
        ignore=shutil.ignore_patterns("__pycache__", "local", "cli.py"),
    )
    if bytecode:
        compileall.compile_dir(
            source, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    return str(source)


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
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each import's instructions with valgrind (a minute or so a function)",
    )
    args = parser.parse_args()
    print(f"CPU time, median of {args.repeat} fresh interpreters, taking turns")
    print(
        "| function | import of its libraries | with bytecode (as deployed) | ratio "
        "| from source | ratio | peak RSS, as deployed |"
    )
    print("|---|---|---|---|---|---|---|")
    counts: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name, libraries in LIBRARIES.items():
            compiled = function_source(folder, name, bytecode=True)
            source = function_source(folder, name, bytecode=False)
            probes = [
                (f"{AS_DEPLOYED}import {libraries}", compiled, False),
                (f"{AS_DEPLOYED}import main", compiled, False),
                (f"{AS_DEPLOYED}import main", source, True),
            ]
            (base, _), (deployed, rss), (raw, _) = timed_imports(probes, args.repeat)
            print(
                f"| {name} | {base * 1000:.0f} ms | {deployed * 1000:.0f} ms "
                f"| {deployed / base:.2f}x | {raw * 1000:.0f} ms | {raw / base:.2f}x | {rss:.0f} MiB |"
            )
            if args.instructions:
                counts[name] = counted_imports(probes)
        (base, base_rss), (grpc, grpc_rss) = timed_imports(
            [(f"import {LIBRARIES['validate']}", scratch, False),
             (f"import {LIBRARIES['validate']}, google.cloud.pubsub_v1", scratch, False)],
            args.repeat,
        )  # fmt: skip
    if counts:
        print("\nInstructions (valgrind callgrind), millions, an empty interpreter's subtracted")
        print(
            "| function | libraries | with bytecode (as deployed) | ratio | from source | ratio |"
        )
        print("|---|---|---|---|---|---|")
        for name, (libs, as_deployed, from_source) in counts.items():
            print(
                f"| {name} | {libs:,.0f} M | {as_deployed:,.0f} M | {as_deployed / libs:.2f}x "
                f"| {from_source:,.0f} M | {from_source / libs:.2f}x |"
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
