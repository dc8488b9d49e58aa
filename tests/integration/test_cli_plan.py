"""`codetune plan DATASET_URI --kind generation|chat --examples N [--manifest FILE]
[--set name=value ...] [--json]`, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema

from codetune.local.discovery import json_schema

DATASET = "gs://tuning-drop/incoming/snippets.jsonl#1732700000000001"
DEPLOYMENT = {
    "CODETUNE_PROJECT": "acme-ml",
    "CODETUNE_PIPELINE_REGION": "us-central1",
    "CODETUNE_OUTPUT_DIR": "gs://tuning-drop/pipeline",
}
# A deployment that chose the legacy code-bison pipeline.
LEGACY_GEN = {
    **DEPLOYMENT,
    "CODETUNE_LARGE_MODEL_REFERENCE": "code-bison@002",
    "CODETUNE_TRAIN_STEPS": "250",
}
LEGACY_CHAT = {**LEGACY_GEN, "CODETUNE_LARGE_MODEL_REFERENCE": "codechat-bison@002"}


def codetune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = shutil.which("codetune")
    base = [command] if command else [sys.executable, "-m", "codetune.cli"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    environment.update(DEPLOYMENT if env is None else env)
    return subprocess.run(
        [*base, *args], capture_output=True, text=True, timeout=60, env=environment
    )


def test_plan_prints_the_request_and_what_was_derived() -> None:
    result = codetune(
        "plan",
        DATASET,
        "--kind",
        "generation",
        "--examples",
        "240",
        "--set",
        "train_steps=15",
        "--json",
        env=LEGACY_GEN,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert set(plan) == {"method", "url", "body", "derived", "warnings"}
    assert plan["method"] == "POST"
    assert plan["url"].startswith(
        "https://us-central1-aiplatform.googleapis.com/v1/projects/acme-ml/locations/us-central1/pipelineJobs?pipelineJobId=codetune-snippets-"
    )
    assert plan["derived"] == {
        "base_model": "code-bison@002",
        "default_context": None,
        "template": "https://us-kfp.pkg.dev/ml-pipeline/large-language-model-pipelines/tune-large-model/v3.0.0",
        "tuning_region": "us-central1",
        "batch_size": 8,
        "epochs": 0.5,
    }
    assert (
        plan["body"]["runtimeConfig"]["parameterValues"]["train_steps"] == 15
    )  # --set beats the environment
    assert any("0.5 epochs" in w for w in plan["warnings"])
    assert any("since 2024-10-09" in w for w in plan["warnings"])
    schema = json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1PipelineJob", request=True)
    jsonschema.validate(plan["body"], schema)


def test_deployment_defaults_come_from_the_environment() -> None:
    result = codetune(
        "plan", DATASET, "--kind", "chat", "--examples", "100", "--json", env=LEGACY_CHAT
    )
    plan = json.loads(result.stdout)
    assert plan["body"]["runtimeConfig"]["parameterValues"]["train_steps"] == 250
    assert plan["body"]["runtimeConfig"]["gcsOutputDirectory"] == "gs://tuning-drop/pipeline"
    assert plan["derived"]["template"].endswith("tune-large-chat-model/v3.0.0")


def test_the_manifest_pairs_evaluation_data_and_sets_parameters(tmp_path: Path) -> None:
    manifest = tmp_path / "snippets.tuning.json"
    manifest.write_text(
        json.dumps(
            {
                "evaluation": "snippets.eval.jsonl",
                "parameters": {"train_steps": 400, "enable_early_stopping": True},
            }
        )
    )
    result = codetune(
        "plan",
        DATASET,
        "--kind",
        "generation",
        "--examples",
        "900",
        "--manifest",
        str(manifest),
        "--json",
        env=LEGACY_GEN,
    )
    values = json.loads(result.stdout)["body"]["runtimeConfig"]["parameterValues"]
    assert values["evaluation_data_uri"].endswith(
        "/incoming/snippets.jsonl/1732700000000001/validation.seed.jsonl"
    )
    assert values["train_steps"] == 400 and values["enable_early_stopping"] is True


def test_every_broken_rule_is_listed_with_exit_1() -> None:
    result = codetune(
        "plan",
        DATASET,
        "--kind",
        "chat",
        "--examples",
        "50",
        "--set",
        "pipeline_region=mars-north1",
        "--set",
        "enable_early_stopping=true",
        "--set",
        "learning_rate_multiplier=0",
        "--json",
        env=LEGACY_CHAT,
    )
    assert result.returncode == 1
    errors = json.loads(result.stdout)["errors"]
    assert {(e["parameter"], e["rule"]) for e in errors} == {
        ("pipeline_region", "S-11"),
        ("enable_early_stopping", "S-6"),
        ("learning_rate_multiplier", "S-16"),
    }
    assert all(set(e) == {"parameter", "rule", "message"} and e["message"] for e in errors)


def test_without_json_the_output_is_readable() -> None:
    good = codetune("plan", DATASET, "--kind", "generation", "--examples", "240", env=LEGACY_GEN)
    assert good.returncode == 0 and good.stdout.startswith("POST https://us-central1-aiplatform")
    assert "batch size 8" in good.stdout
    bad = codetune(
        "plan",
        DATASET,
        "--kind",
        "generation",
        "--examples",
        "240",
        "--set",
        "train_steps=x",
        env={},
    )
    assert bad.returncode == 1
    assert "train_steps [type]" in bad.stdout and "project [required]" in bad.stdout


def test_wrong_arguments_and_unreadable_manifests_exit_2(tmp_path: Path) -> None:
    assert codetune("plan", DATASET, "--kind", "poem", "--examples", "3").returncode == 2
    assert codetune("plan", DATASET, "--kind", "chat").returncode == 2
    assert codetune("plan", DATASET, "--kind", "chat", "--examples", "x").returncode == 2
    missing = codetune(
        "plan",
        DATASET,
        "--kind",
        "chat",
        "--examples",
        "3",
        "--manifest",
        str(tmp_path / "none.json"),
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_unknown_parameters_are_refused() -> None:
    result = codetune(
        "plan", DATASET, "--kind", "generation", "--examples", "10", "--set", "steps=3", "--json"
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["errors"][0]["rule"] == "unknown-parameter"


def test_the_shipped_manifest_plans() -> None:
    manifest = Path(__file__).resolve().parents[2] / "examples" / "code-generation.tuning.json"
    result = codetune(
        "plan",
        "gs://tuning-drop/incoming/code-generation.jsonl#3",
        "--kind",
        "generation",
        "--examples",
        "24",
        "--manifest",
        str(manifest),
        "--json",
    )
    assert result.returncode == 0, result.stdout
    plan = json.loads(result.stdout)
    assert plan["body"]["baseModel"] == "gemini-3.5-flash"
    assert plan["body"]["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "3"
    assert plan["derived"]["evaluation_source_uri"] == (
        "gs://tuning-drop/incoming/code-generation.eval.jsonl"
    )


def test_without_a_base_model_the_plan_is_a_gemini_tuning_job() -> None:
    result = codetune("plan", DATASET, "--kind", "chat", "--examples", "300", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert plan["url"].endswith("/v1/projects/acme-ml/locations/us-central1/tuningJobs")
    assert plan["body"]["baseModel"] == "gemini-3.5-flash"
    assert not any("2024-10-09" in w for w in plan["warnings"])


def test_a_validation_report_gives_the_training_tokens_the_cost_and_the_budget(
    tmp_path: Path,
) -> None:
    from tests.support import dataset, generation_dataset

    data = tmp_path / "train.jsonl"
    data.write_bytes(dataset(generation_dataset(120)))
    validated = codetune("validate", str(data), "--json")
    assert validated.returncode == 0, validated.stderr
    report = tmp_path / "train.report.json"
    report.write_text(validated.stdout)
    per_epoch = json.loads(validated.stdout)["stats"]["tokens"]["per_epoch"]
    priced = {**DEPLOYMENT, "CODETUNE_EPOCH_COUNT": "3", "CODETUNE_TRAINING_PRICE": "5"}
    result = codetune("plan", DATASET, "--report", str(report), "--json", env=priced)
    assert result.returncode == 0, result.stdout + result.stderr
    cost = json.loads(result.stdout)["cost"]
    assert cost["training_tokens"] == 3 * per_epoch
    assert cost["estimated_cost_usd"] == round(3 * per_epoch / 1e6 * 5, 2)
    readable = codetune("plan", DATASET, "--report", str(report), env=priced)
    assert f"cost: ~{3 * per_epoch:,} training tokens ({per_epoch:,} an epoch x 3 epochs)" in (
        readable.stdout
    )
    over = codetune(
        "plan",
        DATASET,
        "--report",
        str(report),
        env={**priced, "CODETUNE_MAX_TRAINING_TOKENS": str(per_epoch)},
    )
    assert over.returncode == 1
    assert "max_training_tokens [budget]" in over.stdout
    assert "over the deployment's" in over.stdout
    unreadable = codetune("plan", DATASET, "--report", str(tmp_path / "none.json"))
    assert unreadable.returncode == 2 and "cannot read the report" in unreadable.stderr
    assert codetune("plan", DATASET).returncode == 2
