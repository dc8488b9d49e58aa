"""The entry points: a bad setting stops a function when it starts, never one event at a time
(each event would fail, and validate's would be retried for a day)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DEPLOYED_ENV

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("function", ["validate", "tune", "status", "sweep"])
def test_a_bad_setting_stops_the_function_at_start(function: str) -> None:
    def start(**settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                f"import runpy; runpy.run_path({str(ROOT / 'functions' / f'{function}.py')!r})",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **DEPLOYED_ENV, **settings},
        )

    assert start().returncode == 0, start().stderr
    refused = start(CODETUNE_STATE_BUCKET=DEPLOYED_ENV["CODETUNE_BUCKET"])
    assert refused.returncode != 0 and "must not be the upload bucket" in refused.stderr
    # Without the project's number a real deployment would name every created job foreign.
    partial = start(CODETUNE_PROJECT_NUMBER="")
    assert partial.returncode != 0 and "CODETUNE_PROJECT_NUMBER" in partial.stderr
    assert (
        start(CODETUNE_PROJECT_NUMBER="", CODETUNE_VERTEX_ENDPOINT="http://127.0.0.1:9").returncode
        == 0
    )


def test_near_duplicates_on_without_their_library_stops_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The numerical stack ships only with NEAR_DUPLICATES=on (deploy/requirements-near.txt):
    a deployment that turns the check on without it is told at start, not at the first upload."""
    import importlib.util

    from codetune.config import Settings

    assert Settings.from_environment({"CODETUNE_NEAR_DUPLICATES": "on"}).near_duplicates
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "datasketch" else found(name)
    )
    with pytest.raises(ValueError, match="near extra"):
        Settings.from_environment({"CODETUNE_NEAR_DUPLICATES": "on"})
    assert not Settings.from_environment({}).near_duplicates
