"""The command line's inputs, run as a user runs them: `codetune validate` checks the manifest
as the validate function will (its secrets, repeated keys and parameters, its base model's
rules); a path that is not a regular file is refused at once; Ctrl-C ends any command with one
line and exit status 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from codetune import cli
from codetune.dataset.keys import shown_key
from tests.support import chat_dataset, dataset, generation_dataset

TOKEN = "ghp_" + "Zq8xW3vB7nM2kL5pR9tY4uI6oE1aS0dF2gH7"


def codetune(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codetune.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def train(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_bytes(dataset(generation_dataset(12)))
    return path


def errors(result: subprocess.CompletedProcess[str]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["rule"]) for e in json.loads(result.stdout)["errors"]]


# --- the manifest, as the function reads it -----------------------------------------------------
def test_the_manifest_beside_the_dataset_is_checked_as_the_function_checks_it(train: Path) -> None:
    manifest = train.with_name("train.tuning.json")
    manifest.write_bytes(orjson.dumps({"parameters": {"default_context": f"Deploy with {TOKEN}"}}))
    result = codetune("validate", train, "--json")
    assert result.returncode == 1, result.stderr
    assert errors(result) == [("manifest: parameters.default_context", "secret")]
    assert TOKEN not in result.stdout
    summary = codetune("validate", train)
    assert "file, manifest: parameters.default_context [secret] GitHub token" in summary.stdout
    # An evaluation dataset's manifest is its training dataset's; a manifest given is read instead.
    evaluation = train.with_name("train.eval.jsonl")
    evaluation.write_bytes(dataset(generation_dataset(12)))
    assert codetune("validate", evaluation, "--evaluation").returncode == 1
    clean = train.with_name("other.json")
    clean.write_bytes(b'{"parameters": {"epoch_count": 2}}')
    assert codetune("validate", train, "--manifest", clean).returncode == 0
    manifest.unlink()
    assert codetune("validate", train).returncode == 0


@pytest.mark.parametrize(
    ("manifest", "field", "rule"),
    [
        (b'{"parameters": {"epoch_count": 2, "epoch_count": 3}}', "parameters.manifest", "duplicate-key"),
        (b'{"parameters": {"epoch_cuont": 2}}', "parameters." + shown_key("epoch_cuont"), "unknown-parameter"),
        (b'{"parameters": {"project": "elsewhere"}}', "parameters.project", "deployment-only"),
        (b'{"parameters": {"epoch_count": 9223372036854775808}}', "parameters.epoch_count", "range"),
        (b'{"parameters": {"display_name": "a\\u001b[31mb"}}', "parameters.display_name", "format"),
    ],
)  # fmt: skip
def test_what_tune_would_refuse_of_a_manifest_is_an_error(
    train: Path, manifest: bytes, field: str, rule: str
) -> None:
    """The validate function's report says so too (rule `tuning`, led by tune's rule)."""
    train.with_name("train.tuning.json").write_bytes(manifest)
    result = codetune("validate", train, "--json")
    assert result.returncode == 1, result.stdout
    [error] = json.loads(result.stdout)["errors"]
    assert (error["field"], error["rule"], error["message"].partition(":")[0]) == (
        field,
        "tuning",
        rule,
    )


def test_the_rules_are_the_manifests_base_model(train: Path) -> None:
    chats = train.with_name("chats.jsonl")
    chats.write_bytes(dataset(chat_dataset(12)))
    chats.with_name("chats.tuning.json").write_bytes(
        b'{"parameters": {"large_model_reference": "code-bison@002"}}'
    )
    report = json.loads(codetune("validate", chats, "--json").stdout)
    assert (report["base_model"], report["rule_set"]) == ("code-bison@002", "code-bison")
    report = json.loads(
        codetune("validate", chats, "--json", "--base-model", "gemini-3.5-flash").stdout
    )
    assert report["base_model"] == "gemini-3.5-flash"


def test_a_manifest_that_cannot_be_read_exits_2(train: Path, tmp_path: Path) -> None:
    result = codetune("validate", train, "--manifest", tmp_path / "missing.json")
    assert result.returncode == 2 and "cannot read the manifest" in result.stderr
    train.with_name("train.tuning.json").mkdir()
    result = codetune("validate", train)
    assert result.returncode == 2 and "cannot read the manifest" in result.stderr


# --- paths that are not regular files -----------------------------------------------------------
@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.jsonl"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["/dev/zero", "folder", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_refused_at_once(
    kind: str, tmp_path: Path, fifo: Path, train: Path
) -> None:
    path = {"/dev/zero": Path("/dev/zero"), "folder": tmp_path, "fifo": fifo}[kind]
    for args in (
        ["validate", path],
        ["validate", path, "--json"],
        ["validate", train, "--eval", path],
        ["validate", train, "--manifest", path],
        ["plan", "gs://b/incoming/t.jsonl", "--kind", "generation", "--examples", "10", "--manifest", path],
        ["plan", "gs://b/incoming/t.jsonl", "--report", path],
    ):  # fmt: skip
        started = time.monotonic()
        result = codetune(*args, timeout=30)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
        assert time.monotonic() - started < 20


# --- Ctrl-C ---------------------------------------------------------------------------------------
def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    """A real SIGINT to a command that is still working (validate here, slowed down)."""
    script = (
        "import sys, time\n"
        "from codetune import cli\n"
        "from codetune.cli import _validate\n"
        "_validate.run = lambda args: (print('started', flush=True), time.sleep(60))[1]\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "validate", str(tmp_path / "any.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "started\n"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr == "codetune: interrupted\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "x.jsonl"],
        ["plan", "gs://b/x.jsonl", "--kind", "generation", "--examples", "10"],
        ["status", "gs://b/x.jsonl"],
        ["logs", "gs://b/x.jsonl", "--local", "."],
        ["models", "list"],
    ],
)
def test_every_command_ends_on_ctrl_c_the_same_way(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_: object) -> int:
        raise KeyboardInterrupt

    from codetune.cli import _cloud, _plan, _validate

    monkeypatch.setattr(_validate, "run", interrupted)
    monkeypatch.setattr(_plan, "run", interrupted)
    monkeypatch.setattr(_cloud, "in_google_cloud", lambda command: interrupted)
    assert cli.main(argv) == 130
    assert capsys.readouterr().err == "codetune: interrupted\n"


def test_an_eval_jsonl_is_checked_as_an_evaluation_dataset_as_in_the_bucket(train: Path) -> None:
    evaluation = train.with_name("train.eval.jsonl")
    evaluation.write_bytes(dataset(generation_dataset(12)))
    result = codetune("validate", evaluation, "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["role"] == "evaluation"
    assert json.loads(codetune("validate", train, "--json").stdout)["role"] == "training"
