"""`codetune chaos`, as CI runs it: both backends, a small N, fixed seeds. Faults injected:
Vertex AI 429/503, lost job events, duplicated storage events, forged messages, hostile
metadata, invalid datasets, datasets overwritten while their job runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("base_model", "seed"), [(None, 11), ("code-bison@002", 12)], ids=["gemini", "pipeline"]
)
def test_nothing_is_lost_duplicated_or_tuned_on_unvalidated_data(
    base_model: str | None, seed: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    args = ["--datasets", "12", "--seed", str(seed), "--json", "--timeout", "240"]
    if base_model:
        args += ["--base-model", base_model]
    result = subprocess.run(
        [sys.executable, "-m", "codetune.cli", "chaos", *args],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    summary = json.loads(result.stdout)
    assert result.returncode == 0, summary
    assert summary["lost"] == [] and summary["duplicate_jobs"] == 0
    assert summary["jobs_on_unvalidated_data"] == 0
    assert summary["tuned_with_hostile_settings"] == 0
    assert summary["tuned"] + len(summary["failed"]) == summary["datasets"] >= 12
    assert sum(summary["faults_injected"].values()) >= 5
