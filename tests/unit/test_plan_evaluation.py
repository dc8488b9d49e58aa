"""`codetune plan`'s evaluation line (--eval FILE): the examples, tokens and cost tune would
plan for the evaluation after a Gemini job, in text and JSON, and held to the budget."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from codetune.cli import main
from codetune.evaluation.examples import read_examples
from codetune.evaluation.plan import EvaluationPlan
from codetune.evaluation.planner import prompt_tokens
from tests.support import dataset, generation, generation_dataset

URI = "gs://drop/incoming/t.jsonl#1"
EVALUATION = [generation(900 + i, input_text="Write: " + "y" * (30 * i)) for i in range(12)]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A training dataset's report, its evaluation dataset and the manifest pairing them, in a
    deployment's environment."""
    for name in [k for k in os.environ if k.startswith("CODETUNE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CODETUNE_PROJECT", "acme-ml")
    monkeypatch.setenv("CODETUNE_PIPELINE_REGION", "us-central1")
    monkeypatch.setenv("CODETUNE_EPOCH_COUNT", "1")
    (tmp_path / "t.jsonl").write_bytes(dataset(generation_dataset(30)))
    (tmp_path / "t.eval.jsonl").write_bytes(dataset(EVALUATION))
    (tmp_path / "t.tuning.json").write_bytes(orjson.dumps({"evaluation": "t.eval.jsonl"}))
    return tmp_path


def plan(
    files: Path, capsys: pytest.CaptureFixture[str], *args: str, evaluate: bool = True
) -> tuple[int, str]:
    assert main(["validate", str(files / "t.jsonl"), "--json"]) == 0
    (files / "t.report.json").write_text(capsys.readouterr().out)
    given = ["--report", str(files / "t.report.json"), "--manifest", str(files / "t.tuning.json")]
    if evaluate:
        given += ["--eval", str(files / "t.eval.jsonl")]
    status = main(["plan", URI, *given, *args])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_the_plan_counts_the_first_examples_as_tune_does(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODETUNE_INFERENCE_PRICES", "gemini-3.5-flash=0.30/2.50")
    status, out = plan(files, capsys, "--set", "evaluation_examples=4", "--json")
    assert status == 0, out
    shown: dict[str, Any] = json.loads(out)["evaluation"]
    evaluation = EvaluationPlan(**shown["plan"])
    assert (evaluation.examples, evaluation.available, evaluation.max_output_tokens) == (
        4,
        12,
        1024,
    )
    with (files / "t.eval.jsonl").open("rb") as stream:
        prompts = sum(prompt_tokens(e) for e in read_examples(stream, evaluation))
    assert shown["cost"]["input_tokens"] == prompts
    assert shown["cost"]["tokens"] == evaluation.estimated_tokens == 2 * (prompts + 4 * 1024)
    assert shown["cost"]["estimated_cost_usd"] == evaluation.estimated_cost_usd is not None
    status, out = plan(files, capsys, "--set", "evaluation_examples=4")
    assert f"\n{shown['describe']}\n" in out and "at most $" in shown["describe"]


def test_the_budget_holds_the_evaluation_and_0_turns_it_off(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODETUNE_MAX_COST", "5")
    status, out = plan(files, capsys)
    assert status == 1 and "max_cost [budget] evaluation: 12 examples" in out
    assert "cost unknown: no inference price for gemini-3.5-flash" in out
    status, out = plan(files, capsys, "--set", "evaluation_examples=0")
    assert status == 0, out
    assert "evaluation: none, the dataset asks for none (evaluation_examples=0)" in out
    monkeypatch.setenv("CODETUNE_INFERENCE_PRICES", "gemini-3.5-flash=100/1000")
    status, out = plan(files, capsys)  # ~$30 of answers
    assert status == 1 and "over the deployment's $5.00" in out
    monkeypatch.setenv("CODETUNE_MAX_COST", "50")
    assert plan(files, capsys)[0] == 0


def test_without_the_file_the_plan_says_how_many_at_most(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out = plan(files, capsys, evaluate=False)
    assert status == 0, out
    assert "evaluation: up to 200 examples of gs://drop/incoming/t.eval.jsonl after the job" in out
    assert "give --eval FILE" in out
    monkeypatch.setenv("CODETUNE_EVALUATION_MAX_EXAMPLES", "7")
    assert "up to 7 examples" in plan(files, capsys, evaluate=False)[1]
    asked = plan(files, capsys, "--set", "evaluation_examples=3", evaluate=False)[1]
    assert "up to 3 examples" in asked
    monkeypatch.setenv("CODETUNE_EVALUATION", "off")
    _, out = plan(files, capsys)
    assert "evaluation: none, the deployment does not evaluate" in out


def test_eval_without_an_evaluation_dataset_is_a_usage_error(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (files / "t.tuning.json").write_bytes(b"{}")
    status, out = plan(files, capsys)
    assert status == 2 and "--eval needs a Gemini job with an evaluation dataset" in out
