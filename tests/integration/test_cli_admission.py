"""The check before the upload is the check after it: `codetune validate` (run as a user runs
it) and the validate function, given the same dataset, manifest and deployment, report the
same errors; a dataset both call valid is submitted by tune. `codetune plan --report` holds the
budget to what the job trains on, as tune does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from codetune.app.tune import Tuning, tune_dataset
from codetune.app.validate import Validation, validate_upload
from codetune.config import Settings
from codetune.events import StorageObject
from codetune.logs import Logger
from codetune.messages import DatasetValidated
from tests.support import chat_dataset, dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage

BUCKET = "drop"
DEPLOYMENT = {
    "CODETUNE_PROJECT": "acme-ml",
    "CODETUNE_PIPELINE_REGION": "us-central1",
    "CODETUNE_OUTPUT_DIR": f"gs://{BUCKET}/pipeline",
}
CONTEXT = "Answer in our house style, with type hints and docstrings. " * 500  # ~7,400 tokens

# (name, dataset, manifest parameters, deployment settings beyond DEPLOYMENT)
CASES: list[tuple[str, bytes, dict[str, Any] | None, dict[str, str]]] = [
    ("fine", dataset(generation_dataset(40)), None, {"CODETUNE_EPOCH_COUNT": "2"}),
    (
        "chat-on-code-bison",  # the case: "valid", then S-21 from tune
        dataset(chat_dataset(40)),
        {"large_model_reference": "code-bison@002"},
        {},
    ),
    (
        "model-not-allowed",
        dataset(generation_dataset(40)),
        {"large_model_reference": "gemini-3.5-flash-lite"},
        {"CODETUNE_ALLOWED_BASE_MODELS": "gemini-3.5-flash"},
    ),
    (
        "region",
        dataset(generation_dataset(40)),
        None,
        {"CODETUNE_PIPELINE_REGION": "asia-northeast1"},
    ),
    (
        "over-budget",
        dataset(generation_dataset(40)),
        {"epoch_count": 30},
        {"CODETUNE_MAX_TRAINING_TOKENS": "10000"},
    ),
    (
        "context-over-budget",  # fits alone; not with the context in each of its 40 examples
        dataset(chat_dataset(40)),
        {"default_context": CONTEXT, "epoch_count": 3},
        {"CODETUNE_MAX_TRAINING_TOKENS": "300000"},
    ),
    (
        "cost-without-epochs",
        dataset(generation_dataset(40)),
        None,
        {"CODETUNE_MAX_COST": "10"},
    ),
]


def cli_errors(
    tmp_path: Path, name: str, data: bytes, manifest: dict[str, Any] | None, env: dict[str, str]
) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(data)
    if manifest is not None:
        path.with_name(f"{name}.tuning.json").write_bytes(orjson.dumps({"parameters": manifest}))
    result = codetune("validate", path, "--json", env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)["errors"], result.stderr


def function_errors(
    storage: MemoryStorage,
    name: str,
    data: bytes,
    manifest: dict[str, Any] | None,
    env: dict[str, str],
) -> tuple[Validation, list[dict[str, Any]], MemoryPublisher]:
    if manifest is not None:
        storage.put(BUCKET, f"incoming/{name}.tuning.json", orjson.dumps({"parameters": manifest}))
    generation = storage.put(BUCKET, f"incoming/{name}.jsonl", data)
    publisher = MemoryPublisher()
    obj = StorageObject(BUCKET, f"incoming/{name}.jsonl", generation, {})
    outcome = validate_upload(obj, storage, publisher, settings(env), Logger("test"), None, env)
    report, _ = storage.read_json(BUCKET, f"incoming/{name}.jsonl.report.json")
    assert report is not None
    return outcome, report["errors"], publisher


def settings(env: dict[str, str]) -> Settings:
    return Settings.from_environment({**env, "CODETUNE_BUCKET": BUCKET})


def codetune(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    return subprocess.run(
        [sys.executable, "-m", "codetune.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **env},
    )


@pytest.mark.parametrize(("name", "data", "manifest", "extra"), CASES, ids=[c[0] for c in CASES])
def test_validate_reports_what_tune_would_refuse_at_both_edges(
    tmp_path: Path, name: str, data: bytes, manifest: dict[str, Any] | None, extra: dict[str, str]
) -> None:
    env = {**DEPLOYMENT, **extra}
    status, cli, _ = cli_errors(tmp_path, name, data, manifest, env)
    storage = MemoryStorage()
    outcome, function, publisher = function_errors(storage, name, data, manifest, env)
    assert cli == function
    assert (status == 0) is (outcome is Validation.VALIDATED)
    if name == "fine":
        assert status == 0
        [(_, body, attributes)] = publisher.messages
        message = DatasetValidated.decode(body, attributes)
        vertex = FakeVertex()
        submitted = tune_dataset(message, storage, vertex, settings(env), env, Logger("test"))
        assert submitted is Tuning.SUBMITTED and vertex.creates == 1
        return
    assert status == 1 and [e["rule"] for e in cli] == ["tuning"], cli
    expected = {
        "chat-on-code-bison": "S-21: code-bison@002 tunes generation datasets",
        "model-not-allowed": "deployment-only: gemini-3.5-flash-lite is not among",
        "region": "gemini: gemini-3.5-flash tunes only in us-central1, europe-west4",
        "over-budget": "budget: ",
        "context-over-budget": "budget: ",
        "cost-without-epochs": "budget: the epochs are the service's default",
    }[name]
    assert cli[0]["message"].startswith(expected), cli


def test_the_default_context_is_counted_in_every_example_before_the_upload(tmp_path: Path) -> None:
    """The same dataset without its context is within the same budget."""
    env = {**DEPLOYMENT, "CODETUNE_MAX_TRAINING_TOKENS": "300000"}
    data = dataset(chat_dataset(40))
    status, errors, _ = cli_errors(tmp_path, "bare", data, {"epoch_count": 3}, env)
    assert status == 0 and errors == []
    manifest = {"default_context": CONTEXT, "epoch_count": 3}
    status, errors, _ = cli_errors(tmp_path, "ctx", data, manifest, env)
    assert status == 1
    tokens = int(errors[0]["message"].split(" training tokens")[0].split("~")[-1].replace(",", ""))
    assert tokens > 40 * 3 * 7_000


def test_validate_takes_the_deployments_settings_with_set(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_bytes(dataset(chat_dataset(40)))
    plain = codetune("validate", path, env=DEPLOYMENT)
    assert plain.returncode == 0, plain.stdout
    capped = codetune(
        "validate", path, "--set", "epoch_count=3", "--set", "max_training_tokens=1000",
        env=DEPLOYMENT,
    )  # fmt: skip
    assert capped.returncode == 1
    assert "parameters.max_training_tokens [tuning] budget:" in capped.stdout
    legacy = codetune("validate", path, "--base-model", "code-bison@002", env=DEPLOYMENT)
    assert legacy.returncode == 1 and "[tuning] S-21:" in legacy.stdout
    unknown = codetune("validate", path, "--set", "epoch_cuont=3", env=DEPLOYMENT)
    assert unknown.returncode == 1 and "[tuning] unknown-parameter:" in unknown.stdout
    wrong = codetune("validate", path, "--set", "epoch_count", env=DEPLOYMENT)
    assert wrong.returncode == 2 and "--set" in wrong.stderr


def test_away_from_a_deployment_its_unset_settings_are_named_not_failed(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_bytes(dataset(chat_dataset(40)))
    result = codetune("validate", path, env={})
    assert result.returncode == 0, result.stdout
    assert "not checked without the deployment's project, region" in result.stderr
    assert "CODETUNE_REGION" in result.stderr
    assert "CODETUNE_PROJECT" in result.stderr
    legacy = codetune("validate", path, "--base-model", "code-bison@002", env={})
    assert legacy.returncode == 1 and "[tuning] S-21:" in legacy.stdout
    assert "output_dir" in legacy.stderr


def test_an_evaluation_set_past_the_models_share_is_refused_with_eval(tmp_path: Path) -> None:
    """Past 1,000 evaluation examples, Gemini takes at most 30% of the training count: only the
    pair tells, so tune checks it, and `--eval` too."""
    train, evaluation = tmp_path / "t.jsonl", tmp_path / "t.eval.jsonl"
    train.write_bytes(dataset(generation_dataset(3_000)))
    lines = generation_dataset(4_100)[3_000:]
    evaluation.write_bytes(dataset(lines))
    result = codetune("validate", train, "--eval", evaluation, "--json", env=DEPLOYMENT)
    assert result.returncode == 1, result.stdout
    [error] = json.loads(result.stdout)["training"]["errors"]
    assert "1,100 evaluation examples for 3,000 training examples" in error["message"]
    assert error["field"] == "parameters.evaluation_data_uri"


def test_plan_counts_the_context_for_every_example(tmp_path: Path) -> None:
    data = tmp_path / "chats.jsonl"
    data.write_bytes(dataset(chat_dataset(40)))
    validated = codetune("validate", data, "--json", env=DEPLOYMENT)
    assert validated.returncode == 0, validated.stderr
    report = tmp_path / "chats.report.json"
    report.write_text(validated.stdout)
    per_epoch = json.loads(validated.stdout)["stats"]["tokens"]["per_epoch"]
    manifest = tmp_path / "m.json"
    manifest.write_bytes(orjson.dumps({"parameters": {"default_context": CONTEXT}}))
    uri = "gs://drop/incoming/chats.jsonl#1"
    env = {**DEPLOYMENT, "CODETUNE_EPOCH_COUNT": "3"}
    bare = codetune("plan", uri, "--report", report, "--json", env=env)
    assert json.loads(bare.stdout)["cost"]["tokens_per_epoch"] == per_epoch
    planned = codetune("plan", uri, "--report", report, "--manifest", manifest, "--json", env=env)
    assert planned.returncode == 0, planned.stdout
    assert json.loads(planned.stdout)["cost"]["tokens_per_epoch"] > per_epoch + 40 * 7_000
    capped = {**env, "CODETUNE_MAX_TRAINING_TOKENS": str(3 * per_epoch * 2)}
    assert codetune("plan", uri, "--report", report, env=capped).returncode == 0
    over = codetune("plan", uri, "--report", report, "--manifest", manifest, env=capped)
    assert over.returncode == 1 and "max_training_tokens [budget]" in over.stdout
    # Without a report there are no tokens: the budget is said to be unchecked, not failed.
    blind = codetune("plan", uri, "--kind", "chat", "--examples", "40", env=capped)
    assert blind.returncode == 0, blind.stdout
    assert "budget: not checked without token counts" in blind.stdout
