"""`codetune demo`, the README's main job: the whole chain on the local stack, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    return subprocess.run(
        [sys.executable, "-m", "codetune.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "job", "model"),
    [
        ((), "/tuningJobs/", "gemini-3.5-flash, gemini backend"),
        (("--base-model", "code-bison@002"), "/pipelineJobs/", "code-bison@002, pipeline backend"),
    ],
)
def test_the_demo_ends_with_a_tuned_model(args: tuple[str, ...], job: str, model: str) -> None:
    result = demo(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "validate: dataset valid (24 examples, generation)" in out
    assert job in out and model in out
    assert "stopped every process the demo started" in out
    assert out.rstrip().splitlines()[-1].startswith("tuned model: projects/local-project/")


def test_the_demo_says_why_a_chain_ends_without_a_model(tmp_path: object) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "broken.jsonl"
    bad.write_text('{"input_text": 1}\n')
    result = demo(str(bad))
    assert result.returncode == 1
    assert "the chain ended REJECTED" in result.stdout
