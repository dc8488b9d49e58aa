"""Commands that reach Google Cloud say what is missing in one line and exit 2, never with a
traceback: without credentials, and for a bucket that does not exist (issue 15, item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.emulators import storage_emulator

COMMANDS = [
    ["status", "gs://acme-tuning-drop/incoming/train.jsonl"],
    ["models", "list", "--project", "acme-ml", "--region", "us-central1"],
    ["report", "gs://acme-tuning-drop/incoming/train.jsonl", "--html", "run.html"],
]


def codetune(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codetune.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def without_credentials(folder: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CODETUNE_", "GOOGLE_", "CLOUDSDK_", "STORAGE_EMULATOR", "PUBSUB_"))
    }
    # An empty gcloud configuration and home: no application default credentials anywhere;
    # no metadata server to ask (this is not a Google Cloud machine).
    return {
        **env,
        "CLOUDSDK_CONFIG": str(folder),
        "HOME": str(folder),
        "GCE_METADATA_HOST": "127.0.0.1:9",
    }


@pytest.mark.parametrize("args", COMMANDS, ids=["status", "models", "report"])
def test_without_credentials_a_command_says_how_to_get_them(
    args: list[str], tmp_path: Path
) -> None:
    result = codetune(args, without_credentials(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "gcloud auth application-default login" in line


def test_a_bucket_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with storage_emulator():
        env = {
            **without_credentials(tmp_path),
            "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        }
        result = codetune(["status", "gs://no-such-bucket/incoming/train.jsonl"], env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "gs://no-such-bucket does not exist" in line
