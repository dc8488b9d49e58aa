"""`codetune chaos`, as CI runs it: both backends, a small N, fixed seeds, every kind of fault
of issue 11 injected at least once (the run injects each kind first, then at random)."""

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
    # Gemini tuning jobs send no job events (the sweep reads them): nothing to lose there.
    messages = ["storage_event", "validated_message"] + (["job_event"] if base_model else [])
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
    expected = {
        *(f"{what}_{fault}" for what in messages for fault in ("lost", "duplicated", "reordered")),
        "vertex_429",
        "vertex_503",
        "vertex_409_aborted",
        "vertex_503_after_create",
        "vertex_no_answer_after_create",
        "job_vanished",
        "storage_stalled",
        "poison_object",
        "message_forged",
        "hostile_metadata",
        "hostile_manifest",
        "invalid_dataset",
        "dataset_overwritten_while_tuning",
    }
    assert expected <= set(summary["faults_injected"]), expected - set(summary["faults_injected"])
    # The vanished job's dataset ends FAILED saying why; the hostile ones name the rule.
    reasons = list(summary["failed"].values())
    assert any("no longer exists" in reason for reason in reasons)
    assert sum("deployment-only" in reason for reason in reasons) >= 2
