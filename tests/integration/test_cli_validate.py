"""`codetune validate PATH [--kind generation|chat] [--evaluation] [--json]`, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.support import chat_dataset, dataset, generation, generation_dataset, report_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def codetune(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = shutil.which("codetune")
    base = [command] if command else [sys.executable, "-m", "codetune.cli"]
    return subprocess.run([*base, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    def _write(data: bytes, name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


def test_a_valid_dataset_exits_0_with_a_summary(write) -> None:  # type: ignore[no-untyped-def]
    result = codetune("validate", write(dataset(generation_dataset(12))))
    assert result.returncode == 0, result.stderr
    assert "valid generation training dataset, 12 examples" in result.stdout
    assert "[S-2]" in result.stdout  # the warning is shown
    assert "estimate: characters / 4 (give --tokenizer MODEL for exact counts)" in result.stdout


def test_an_invalid_dataset_exits_1_and_names_line_field_and_rule(write) -> None:  # type: ignore[no-untyped-def]
    lines = generation_dataset(12)
    lines[3] = generation(3, output_text=5)
    result = codetune("validate", write(dataset(lines)))
    assert result.returncode == 1
    assert "INVALID" in result.stdout
    assert "line 4, output_text [S-1] output_text is a number; it must be a string" in result.stdout


def test_json_output_is_one_object_in_the_documented_shape(write) -> None:  # type: ignore[no-untyped-def]
    lines = generation_dataset(12)
    lines[0] = b"{"
    path = write(dataset(lines))
    result = codetune("validate", path, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    jsonschema.validate(report, report_schema())
    assert report["dataset"] == str(path)
    assert (report["kind"], report["role"], report["valid"], report["examples"]) == (
        "generation",
        "training",
        False,
        11,
    )
    assert report["errors"][0] == {
        "line": 1,
        "field": None,
        "rule": "json",
        "message": report["errors"][0]["message"],
    }


def test_kind_and_evaluation_flags(write) -> None:  # type: ignore[no-untyped-def]
    chats = write(dataset(chat_dataset(12)), "chat.jsonl")
    assert codetune("validate", chats, "--kind", "chat").returncode == 0
    result = codetune("validate", chats, "--kind", "generation", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["kind"] == "generation"
    legacy = ("--base-model", "code-bison@002")
    result = codetune("validate", chats, "--evaluation", "--json", *legacy)
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["role"] == "evaluation"
    assert [e["rule"] for e in report["errors"]] == ["S-6"]
    evaluation = write(dataset(generation_dataset(251)), "eval.jsonl")
    result = codetune("validate", evaluation, "--evaluation", "--json", *legacy)
    assert result.returncode == 1 and json.loads(result.stdout)["errors"][0]["line"] == 251


def test_the_rules_are_the_base_models(write) -> None:  # type: ignore[no-untyped-def]
    """By default the default model's (Gemini's) rules; --base-model picks another's."""
    evaluation = write(dataset(generation_dataset(251)), "eval.jsonl")
    result = codetune("validate", evaluation, "--evaluation", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and (report["base_model"], report["rule_set"]) == (
        "gemini-3.5-flash",
        "gemini",
    )
    assert "rules of gemini-3.5-flash" in codetune("validate", evaluation, "--evaluation").stdout
    unknown = codetune("validate", evaluation, "--base-model", "gpt-4")
    assert unknown.returncode == 2 and "gemini-3.5-flash" in unknown.stderr


def test_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = codetune("validate", tmp_path / "missing.jsonl")
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = codetune("validate", tmp_path, "--json")  # a folder
    assert result.returncode == 2 and "error" in json.loads(result.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["validate", "x.jsonl", "--kind", "poem"],
        ["validate", "x.jsonl", "--bogus"],
        [],
    ],
)
def test_wrong_arguments_exit_2(args: list[str]) -> None:
    assert codetune(*args).returncode == 2


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("code-generation.jsonl", []),
        ("code-chat.jsonl", []),
        ("code-generation.eval.jsonl", ["--evaluation"]),
    ],
)
def test_the_shipped_examples_are_valid(name: str, flags: list[str]) -> None:
    result = codetune("validate", EXAMPLES / name, *flags, "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["valid"] is True


def test_eval_pairs_an_evaluation_dataset_and_reports_overlap(write) -> None:  # type: ignore[no-untyped-def]
    evaluation = [generation(500 + i) for i in range(12)]
    training = generation_dataset(20)
    training[4] = evaluation[7]
    train_path = write(dataset(training))
    eval_path = write(dataset(evaluation), "data.eval.jsonl")
    result = codetune("validate", train_path, "--eval", eval_path)
    assert result.returncode == 1, result.stderr
    assert f"line 5 [overlap] example is also line 8 of the evaluation dataset {eval_path}" in (
        result.stdout
    )
    assert "valid generation evaluation dataset, 12 examples" in result.stdout
    assert "1 training example(s) also in the evaluation dataset" in result.stdout

    as_json = json.loads(codetune("validate", train_path, "--eval", eval_path, "--json").stdout)
    assert set(as_json) == {"training", "evaluation"}
    for report in as_json.values():
        jsonschema.validate(report, report_schema())
    assert as_json["training"]["stats"]["overlap"]["evaluation_lines"] == [8]

    training[4] = generation(4)
    assert codetune("validate", write(dataset(training)), "--eval", eval_path).returncode == 0


def test_eval_names_an_unreadable_evaluation_dataset(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "missing.eval.jsonl"
    result = codetune("validate", write(dataset(generation_dataset(12))), "--eval", missing)
    assert result.returncode == 2
    assert f"cannot read {missing}" in result.stderr


def test_secrets_are_errors_unless_asked_otherwise(write) -> None:  # type: ignore[no-untyped-def]
    key = "AKIA" + "Q7" * 8
    lines = generation_dataset(12)
    lines[2] = generation(2, output_text=f'client = boto3.client("s3", aws_access_key_id="{key}")')
    path = write(dataset(lines))
    result = codetune("validate", path)
    assert result.returncode == 1
    assert "line 3, output_text [secret] AWS access key on line 1 of the text" in result.stdout
    assert key not in result.stdout
    assert codetune("validate", path, "--secrets", "warning").returncode == 0
    off = codetune("validate", path, "--secrets", "off", "--json")
    assert off.returncode == 0 and "secrets" not in json.loads(off.stdout)["stats"]


def test_near_duplicates_only_when_asked(write) -> None:  # type: ignore[no-untyped-def]
    task = (
        "Write the code in Python: read a CSV file of orders, group the rows by customer, sum "
        "the amount of each group and print the ten largest totals with the customers' names."
    )
    lines = generation_dataset(20)
    lines[1] = generation(1, input_text=task)
    lines[15] = generation(1, input_text=task.replace("ten largest", "five largest"))
    path = write(dataset(lines))
    assert "[near-duplicate]" not in codetune("validate", path).stdout
    result = codetune("validate", path, "--near-duplicates")
    assert result.returncode == 0, result.stderr
    assert "line 16 [near-duplicate] example is about" in result.stdout
    assert "similar to line 2" in result.stdout
