"""`codetune stack`: the local stack left running, and the command line pointed at it by the
environment it writes, exactly as at a deployment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from codetune.local.demo import DEFAULT_DATASET

DATASET = "gs://tuning-drop/incoming/code-generation.jsonl"


class Stack:
    """`codetune stack --env-file` as a subprocess, with its own temporary directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env_file = folder / "stack.env"
        (folder / "tmp").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
        env["TMPDIR"] = str(folder / "tmp")
        self.output = (folder / "stack.out").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codetune.cli", "stack", "--env-file", str(self.env_file),
             "--step-seconds", "3"],
            stdout=self.output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )  # fmt: skip
        self.env = self._ready()
        self.started = descendants(self.process.pid)

    def _ready(self) -> dict[str, str]:
        deadline = time.monotonic() + 120
        while not self.env_file.exists():
            assert self.process.poll() is None, self.said()
            assert time.monotonic() < deadline, self.said()
            time.sleep(0.2)
        lines = self.env_file.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)

    def said(self) -> str:
        return (self.folder / "stack.out").read_text()

    def codetune(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """A command run with the environment the stack wrote (and nothing else of codetune's)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
        return subprocess.run(
            [sys.executable, "-m", "codetune.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**base, **self.env, **env},
        )

    def record(self) -> dict[str, Any]:
        result = self.codetune("status", DATASET, "--json")
        return orjson.loads(result.stdout) if result.returncode == 0 else {}

    def wait(
        self, ready: Callable[[dict[str, Any]], object], seconds: float = 60
    ) -> dict[str, Any]:
        """The record (`codetune status --json`) once `ready` holds for it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            record = self.record()
            if ready(record):
                return record
            time.sleep(0.5)
        raise AssertionError(f"not ready after {seconds} s: {self.record()}")

    def stop(self, number: int) -> int:
        self.process.send_signal(number)
        code = self.process.wait(timeout=60)
        self.output.close()
        return code


def descendants(pid: int) -> set[int]:
    """Every process under `pid`, at any depth (each of the stack's has its own session)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    yield running
    if running.process.poll() is None:  # a failed test still stops it
        running.stop(signal.SIGTERM)


def test_the_command_line_reaches_the_stack_as_a_deployment(stack: Stack) -> None:
    assert {
        "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "CODETUNE_PROJECT", "CODETUNE_BUCKET",
        "CODETUNE_STATE_BUCKET", "CODETUNE_VALIDATED_TOPIC", "CODETUNE_VERTEX_ENDPOINT",
        "CODETUNE_LOGGING_ENDPOINT", "CODETUNE_REGION",
    } <= stack.env.keys()  # fmt: skip
    for key, value in stack.env.items():
        assert f"  export {key}={value}\n" in stack.said()  # the same, for a person
    assert len(stack.started) >= 6  # two emulators, four functions
    # A dataset dropped as the printed curl command does (fake-gcs-server's upload API).
    upload = requests.post(
        f"{stack.env['STORAGE_EMULATOR_HOST']}/upload/storage/v1/b/tuning-drop/o",
        params={"uploadType": "media", "name": "incoming/code-generation.jsonl"},
        data=DEFAULT_DATASET.read_bytes(),
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    stack.wait(lambda record: record.get("job"))
    runs = stack.codetune("runs", "--json")
    assert runs.returncode == 0, runs.stderr
    [row] = [orjson.loads(line) for line in runs.stdout.splitlines()]
    assert row["dataset"].endswith("incoming/code-generation.jsonl")
    assert row["stage"] in ("SUBMITTED", "QUEUED", "RUNNING")
    cancel = stack.codetune("cancel", DATASET, "--by", "tester")
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert "cancel asked for" in cancel.stdout
    record = stack.wait(lambda record: record.get("state") == "CANCELLED")
    assert record["cancel"]["by"] == "tester"
    again = stack.codetune("cancel", DATASET)
    assert again.returncode == 1 and "nothing to cancel" in again.stdout
    status = stack.codetune("status", DATASET)
    assert status.returncode == 0 and ": CANCELLED" in status.stdout
    # Its story from Cloud Logging's entries.list, the stand-in reading the stack's logs.
    logs = stack.codetune("logs", DATASET)
    assert logs.returncode == 0, logs.stderr
    assert "validate INFO    dataset validated" in logs.stdout
    assert "tune INFO    tuning job submitted" in logs.stdout
    assert stack.stop(signal.SIGINT) == 0
    assert "stopped every process the stack started" in stack.said()
    assert alive(stack.started) == set()
    assert not stack.env_file.exists()  # it named ports nothing listens on any more
    assert list((stack.folder / "tmp").iterdir()) == []  # its codetune-stack-* folder too


def test_sigterm_stops_every_process_it_started(stack: Stack) -> None:
    assert alive(stack.started) == stack.started
    assert stack.stop(signal.SIGTERM) == 0
    assert alive(stack.started) == set()
    assert not stack.env_file.exists()


def test_a_stand_in_endpoint_off_this_machine_is_refused_in_one_line(stack: Stack) -> None:
    result = stack.codetune("runs", CODETUNE_VERTEX_ENDPOINT="http://vertex.example.com")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "codetune: CODETUNE_VERTEX_ENDPOINT names a local stand-in and must be on this machine "
        "(http://127.0.0.1:PORT), not 'http://vertex.example.com'"
    ]
    logs = stack.codetune(
        "logs", f"{DATASET}#1", CODETUNE_LOGGING_ENDPOINT="https://logs.example.com"
    )
    assert (
        logs.returncode == 2 and "CODETUNE_LOGGING_ENDPOINT names a local stand-in" in logs.stderr
    )
