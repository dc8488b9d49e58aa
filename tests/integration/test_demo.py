"""`codetune demo`, the README's main job: the whole chain on the local stack, as a user runs it
on a fresh clone (in its own folder, with its own temporary directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from codetune.local.demo import DEFAULT_DATASET, run_demo
from codetune.local.stack import StackConfig

DATASET_URI = "gs://tuning-drop/incoming/code-generation.jsonl"


class Demo:
    def __init__(self, folder: Path, result: subprocess.CompletedProcess[str]) -> None:
        self.folder, self.result = folder, result
        self.out = result.stdout
        self.lines = self.out.rstrip().splitlines()

    def leftovers(self) -> list[str]:
        """What the demo left in its temporary directory."""
        return sorted(p.name for p in (self.folder / "tmp").iterdir())


def demo(folder: Path, *args: str) -> Demo:
    """`codetune demo ARGS` run in `folder`, with `folder/tmp` as its temporary directory."""
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    env["TMPDIR"] = str(folder / "tmp")
    result = subprocess.run(
        [sys.executable, "-m", "codetune.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=folder,
    )
    return Demo(folder, result)


def test_the_demo_pairs_the_shipped_evaluation_dataset_and_keeps_what_it_made(
    tmp_path: Path,
) -> None:
    run = demo(tmp_path, "--step-seconds", "1.5")
    assert run.result.returncode == 0, run.out + run.result.stderr
    out = run.out
    # The manifest and the evaluation dataset it names go first, and are paired with the job.
    assert (
        "/code-generation.tuning.json to gs://tuning-drop/incoming/code-generation.tuning.json"
        in out
    )
    assert "validate: evaluation: dataset valid (12 examples, generation)" in out
    assert "validate: dataset valid (24 examples, generation)" in out
    assert "/tuningJobs/" in out and "gemini-3.5-flash, gemini backend" in out
    kept = tmp_path / "codetune-demo"
    record = orjson.loads((kept / "code-generation.jsonl.record.json").read_bytes())
    spec = record["parameters"]["supervisedTuningSpec"]
    assert spec["validationDatasetUri"].endswith("/validation.gemini.jsonl")
    assert spec["hyperParameters"]["epochCount"] == "3"  # the manifest's epoch_count
    # Every warning of every step: the report's and what tune logged.
    assert "validate: warning: file [S-2] 24 examples" in out
    assert "tune: warning: 24 examples; Google recommends" in out
    # The job's progress while it runs.
    assert "job: progress: tuning, " in out and " of 3 epochs done" in out
    # The reports and the logs are copied and named; the logs read back with `codetune logs`.
    for name in (
        "code-generation.jsonl.report.json",
        "code-generation.jsonl.report.html",
        "code-generation.eval.jsonl.report.json",
    ):
        assert (kept / name).is_file(), name
        assert f"  codetune-demo/{name}\n" in out
    suggestion = f"codetune logs {DATASET_URI} --local codetune-demo/logs"
    assert suggestion in out
    logs = subprocess.run(
        [sys.executable, "-m", "codetune.cli", *suggestion.split()[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert logs.returncode == 0, logs.stderr
    assert "validate INFO    dataset validated" in logs.stdout
    assert "tune WARNING 24 examples" in logs.stdout
    # It ends with the verdict: the tuned model against its base on the evaluation dataset.
    assert "sweep: job succeeded; evaluating the tuned model against its base" in out
    ending = out.rpartition("tuned model: projects/local-project/")[2]
    assert "verdict on 12 evaluation examples (tuned against base):" in ending
    assert "chrF " in ending and "95% CI" in ending
    evaluation = record["evaluation"]
    assert evaluation["state"] == "done" and len(evaluation["verdict"]["metrics"]) == 4
    # The stand-in's tuned model repeats what it learnt: better where the evaluation asks for
    # its training functions in other words, no better elsewhere.
    chrf = next(m for m in evaluation["verdict"]["metrics"] if m["metric"] == "chrf")
    assert chrf["difference"] > 0 and chrf["better"] >= 6
    page = kept / "code-generation.jsonl.eval.html"
    assert page.is_file() and "  (the evaluation page)" in out
    assert record["history"][-1]["by"] == "evaluate"
    assert run.leftovers() == []  # no codetune-stack-* folder left behind


def test_a_legacy_model_run_says_vertex_ai_refuses_it(tmp_path: Path) -> None:
    run = demo(tmp_path, "--base-model", "code-bison@002", "--no-manifest")
    assert run.result.returncode == 0, run.out + run.result.stderr
    warning = next(line for line in run.lines if "legacy code model" in line)
    assert "tune: warning: code-bison@002 is a legacy code model: Vertex AI refuses" in warning
    assert run.lines.index(warning) < next(
        i for i, line in enumerate(run.lines) if "status: job succeeded" in line
    )
    assert "/pipelineJobs/" in run.out and "code-bison@002, pipeline backend" in run.out
    assert run.lines[-1].startswith("tuned model: projects/local-project/")


def test_the_shipped_manifest_does_not_fit_the_legacy_pipeline_and_says_so(tmp_path: Path) -> None:
    run = demo(tmp_path, "--base-model", "code-bison@002")
    assert run.result.returncode == 1
    assert "epoch_count is for Gemini tuning; the code-bison pipeline counts train_steps" in run.out


def test_a_rejected_dataset_points_at_what_outlives_the_stack(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"input_text": 1}\n')
    run = demo(tmp_path, str(bad), "--out", "kept")
    assert run.result.returncode == 1
    ending = run.out.partition("the chain ended REJECTED:")[2]
    assert ending, run.out
    assert "report kept/broken.jsonl.report.json" in ending
    assert (tmp_path / "kept" / "broken.jsonl.report.json").is_file()
    assert "gs://" not in ending and "correlation id" not in ending
    assert "None backend" not in run.out
    assert "codetune logs gs://tuning-drop/incoming/broken.jsonl --local kept/logs" in run.out
    assert run.leftovers() == []


def test_keep_leaves_the_stack_folder_and_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"input_text": 1}\n')
    run = demo(tmp_path, str(bad), "--keep")
    [left] = run.leftovers()
    assert left.startswith("codetune-stack-")
    assert f"kept the stack's folder {tmp_path / 'tmp' / left}" in run.out
    assert (tmp_path / "tmp" / left / "validate.log").is_file()


def test_a_run_page_beside_the_dataset_is_copied_and_named(tmp_path: Path) -> None:
    """The run page (`NAME.run.html`) is another part's: whichever writes it, the demo copies
    it; here the test writes one while the job runs."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if "job running" in line:
            client = storage.Client(project="local-project", credentials=AnonymousCredentials())
            page = client.bucket("tuning-drop").blob("incoming/code-generation.jsonl.run.html")
            page.upload_from_string(b"<!doctype html><title>run</title>")

    out = tmp_path / "pages"
    status = run_demo(DEFAULT_DATASET, say=say, config=StackConfig(step_seconds=1), out=out)
    assert status == 0, "\n".join(said)
    assert (out / "code-generation.jsonl.run.html").read_bytes().startswith(b"<!doctype html>")
    assert f"  {out / 'code-generation.jsonl.run.html'}  (the run page)" in said


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_step_seconds_must_be_positive(tmp_path: Path, value: str) -> None:
    run = demo(tmp_path, "--step-seconds", value)
    assert run.result.returncode == 2
    assert "give a positive number of seconds" in run.result.stderr
