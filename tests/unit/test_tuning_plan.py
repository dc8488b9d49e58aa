"""Tuning parameters and their rules: both sides of every rule (S-6, S-10..S-21), the derived
values, the job id and labels."""

from __future__ import annotations

from typing import Any

import pytest

from codetune.dataset import DatasetKind
from codetune.exceptions import PlanRejected
from codetune.pipeline.models import PIPELINE_REGIONS, TEMPLATES
from codetune.pipeline.plan import PipelineJobPlan, plan_pipeline_job
from codetune.tuning.common import JOB_ID_PATTERN, DatasetRef
from codetune.tuning.parameters import from_assignments, from_environment, from_metadata, resolve

GEN, CHAT = DatasetKind.GENERATION, DatasetKind.CHAT
DATASET = DatasetRef.parse("gs://tuning-drop/incoming/python-snippets.jsonl#1732700000000001")
BASE = {
    "project": "acme-ml",
    "pipeline_region": "us-central1",
    "output_dir": "gs://tuning-drop/pipeline",
}
EVAL = "gs://tuning-drop/incoming/python-snippets.eval.jsonl"


def plan(
    kind: DatasetKind = GEN, examples: int = 600, dataset: DatasetRef = DATASET, **values: Any
) -> PipelineJobPlan:
    parameters, problems = resolve([("test", {**BASE, **values})])
    assert problems == []
    return plan_pipeline_job(dataset, kind, examples, parameters)


def problems(kind: DatasetKind = GEN, examples: int = 600, **values: Any) -> list[tuple[str, str]]:
    with pytest.raises(PlanRejected) as rejected:
        plan(kind, examples, **values)
    return [(p.parameter, p.rule) for p in rejected.value.problems]


def sent(result: PipelineJobPlan) -> dict[str, Any]:
    values: dict[str, Any] = result.body["runtimeConfig"]["parameterValues"]
    return values


# --- S-10..S-12: data and regions -------------------------------------------------------------
def test_required_job_parameters_are_named_together() -> None:
    parameters, _ = resolve([])
    with pytest.raises(PlanRejected) as rejected:
        plan_pipeline_job(DATASET, GEN, 100, parameters)
    assert [(p.parameter, p.rule) for p in rejected.value.problems] == [
        ("project", "required"),
        ("output_dir", "required"),
        ("pipeline_region", "required"),
    ]


@pytest.mark.parametrize(
    "uri", ["https://x/y.jsonl", "gs://tuning-drop", "gs://tuning-drop/", "/tmp/a.jsonl"]
)
def test_s10_the_dataset_is_a_cloud_storage_object(uri: str) -> None:
    assert ("dataset_uri", "S-10") in problems(dataset=DatasetRef(uri))


@pytest.mark.parametrize("region", PIPELINE_REGIONS)
def test_s11_every_pipeline_region_is_accepted(region: str) -> None:
    result = plan(pipeline_region=region)
    assert result.region == region
    assert result.url.startswith(
        f"https://{region}-aiplatform.googleapis.com/v1/projects/acme-ml/locations/{region}/pipelineJobs?pipelineJobId="
    )
    assert sent(result)["location"] == region  # S-12: the upload region defaults to it


@pytest.mark.parametrize("region", ["us-east1", "europe-west6", "US-CENTRAL1", "global"])
def test_s11_other_regions_are_refused(region: str) -> None:
    assert problems(pipeline_region=region) == [("pipeline_region", "S-11")]


def test_s12_the_upload_region_is_its_own_parameter() -> None:
    assert sent(plan(location="asia-northeast3"))["location"] == "asia-northeast3"
    assert problems(location="southamerica-east1") == [("location", "S-12")]


# --- S-13, S-15: accelerator, batch size, epochs ----------------------------------------------
@pytest.mark.parametrize(
    ("model", "accelerator", "region", "batch"),
    [
        ("code-bison@002", "GPU", "us-central1", 8),
        ("code-bison@002", "TPU", "europe-west4", 24),
        ("code-bison-32k@002", "GPU", "us-central1", 8),
        ("code-bison-32k@002", "TPU", "europe-west4", 8),
    ],
)
def test_s13_s15_accelerator_decides_tuning_region_and_batch_size(
    model: str, accelerator: str, region: str, batch: int
) -> None:
    result = plan(
        large_model_reference=model, accelerator_type=accelerator, train_steps=30, examples=240
    )
    assert (result.derived.tuning_region, result.derived.batch_size) == (region, batch)
    assert result.derived.epochs == round(30 * batch / 240, 2)
    assert sent(result)["accelerator_type"] == accelerator


def test_s13_the_default_accelerator_is_gpu_and_others_are_refused() -> None:
    assert sent(plan())["accelerator_type"] == "GPU"
    assert sent(plan(accelerator_type="tpu"))["accelerator_type"] == "TPU"
    _, found = resolve([("test", {**BASE, "accelerator_type": "A100"})])
    assert [(p.parameter, p.rule) for p in found] == [("accelerator_type", "type")]


def test_s15_the_page_examples_of_epochs() -> None:
    # 20 steps x 24 (TPU) over 240 examples is 2 epochs; 15 x 8 (GPU) over 240 is 0.5.
    assert plan(accelerator_type="TPU", train_steps=20, examples=240).derived.epochs == 2.0
    half = plan(train_steps=15, examples=240)
    assert half.derived.epochs == 0.5
    assert any("0.5 epochs" in w for w in half.warnings)
    assert not any("epochs" in w for w in plan(train_steps=30, examples=240).warnings)


def test_s15_steps_default_to_300_and_must_be_positive() -> None:
    assert sent(plan())["train_steps"] == 300
    assert problems(train_steps=0) == [("train_steps", "S-15")]
    assert sent(plan(train_steps=1))["train_steps"] == 1


def test_s15_recommended_steps_for_large_datasets_warn() -> None:
    assert any("recommended" in w for w in plan(train_steps=150, examples=500).warnings)
    assert not any("recommended" in w for w in plan(train_steps=200, examples=500).warnings)
    assert not any("recommended" in w for w in plan(train_steps=1000, examples=500).warnings)
    assert any("recommended" in w for w in plan(train_steps=1001, examples=500).warnings)


# --- S-16 -------------------------------------------------------------------------------------
def test_s16_learning_rate_multiplier_defaults_to_1_and_must_be_positive() -> None:
    assert sent(plan())["learning_rate_multiplier"] == 1.0
    assert sent(plan(learning_rate_multiplier="0.01"))["learning_rate_multiplier"] == 0.01
    assert problems(learning_rate_multiplier=0) == [("learning_rate_multiplier", "S-16")]
    assert problems(learning_rate_multiplier=-1) == [("learning_rate_multiplier", "S-16")]


# --- S-17, S-6: evaluation --------------------------------------------------------------------
def test_s17_evaluation_parameters_with_evaluation_data() -> None:
    planned = plan(
        evaluation_data_uri=EVAL,
        evaluation_interval=50,
        enable_early_stopping=True,
        enable_checkpoint_selection="true",
    )
    values = sent(planned)
    # The job reads the validated evaluation dataset's copy, kept beside the training version.
    assert planned.evaluation_source == EVAL
    assert values["evaluation_data_uri"] == (
        f"gs://tuning-drop-state/_codetune/converted/{DATASET.name}/{DATASET.generation}/validation.seed.jsonl"
    )
    assert values["evaluation_interval"] == 50
    assert values["enable_early_stopping"] is True
    assert values["enable_checkpoint_selection"] == "true"


def test_s17_interval_and_early_stopping_need_evaluation_data() -> None:
    assert problems(evaluation_interval=20) == [("evaluation_interval", "S-17")]
    assert problems(enable_early_stopping=True) == [("enable_early_stopping", "S-17")]
    assert "enable_early_stopping" in sent(plan(enable_early_stopping=False))
    assert problems(evaluation_data_uri=EVAL, evaluation_interval=0) == [
        ("evaluation_interval", "S-17")
    ]


def test_s17_evaluation_data_is_a_cloud_storage_object() -> None:
    assert problems(evaluation_data_uri="eval.jsonl") == [("evaluation_data_uri", "S-10")]


@pytest.mark.parametrize("value", ["true", "false", "default", "TRUE", True, False])
def test_s17_checkpoint_selection_takes_three_strings(value: object) -> None:
    assert sent(plan(enable_checkpoint_selection=value))["enable_checkpoint_selection"] in (
        "true",
        "false",
        "default",
    )


@pytest.mark.parametrize("value", ["yes", "1", "best", ""])
def test_s17_checkpoint_selection_refuses_other_values(value: str) -> None:
    _, found = resolve([("test", {**BASE, "enable_checkpoint_selection": value})])
    assert [(p.parameter, p.rule) for p in found] == [("enable_checkpoint_selection", "type")]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("evaluation_data_uri", EVAL),
        ("evaluation_interval", 20),
        ("enable_early_stopping", False),
        ("enable_checkpoint_selection", "default"),
    ],
)
def test_s6_code_chat_takes_no_evaluation(name: str, value: object) -> None:
    assert (name, "S-6") in problems(CHAT, **{name: value})


def test_s6_all_chat_evaluation_problems_at_once() -> None:
    assert problems(
        CHAT, evaluation_data_uri=EVAL, evaluation_interval=5, enable_early_stopping=True
    ) == [
        ("evaluation_data_uri", "S-6"),
        ("evaluation_interval", "S-6"),
        ("enable_early_stopping", "S-6"),
    ]


# --- S-18 -------------------------------------------------------------------------------------
def test_s18_tensorboard_in_the_pipeline_region() -> None:
    board = "projects/acme-ml/locations/us-central1/tensorboards/123"
    assert sent(plan(tensorboard_resource_id=board))["tensorboard_resource_id"] == board
    assert problems(tensorboard_resource_id=board, pipeline_region="europe-west4") == [
        ("tensorboard_resource_id", "S-18")
    ]
    assert problems(tensorboard_resource_id="my-board") == [("tensorboard_resource_id", "S-18")]


# --- S-14 -------------------------------------------------------------------------------------
KEY = "projects/acme-ml/locations/us-central1/keyRings/ring/cryptoKeys/tuning"


def test_s14_cmek_with_gpu_in_us_central1_goes_to_both_places() -> None:
    result = plan(encryption_spec_key_name=KEY)
    assert result.body["encryptionSpec"] == {"kmsKeyName": KEY}
    assert sent(result)["encryption_spec_key_name"] == KEY


def test_s14_cmek_refused_with_tpu_or_outside_us_central1() -> None:
    assert problems(encryption_spec_key_name=KEY, accelerator_type="TPU") == [
        ("encryption_spec_key_name", "S-14")
    ]
    assert problems(encryption_spec_key_name=KEY, location="europe-west4") == [("location", "S-14")]
    assert problems(encryption_spec_key_name=KEY, pipeline_region="europe-west4") == [
        ("pipeline_region", "S-14"),
        ("location", "S-14"),
    ]
    other = KEY.replace("us-central1", "europe-west4")
    assert problems(encryption_spec_key_name=other) == [("encryption_spec_key_name", "S-14")]
    assert problems(encryption_spec_key_name="my-key") == [("encryption_spec_key_name", "format")]
    assert "encryptionSpec" not in plan().body


# --- S-19, S-20, S-21, max_context_length -----------------------------------------------------
def test_s19_default_context_is_for_chat_only() -> None:
    assert sent(plan(CHAT, default_context="You write Go."))["default_context"] == "You write Go."
    assert problems(default_context="You write Go.") == [("default_context", "S-19")]


def test_s20_display_names_up_to_128_characters() -> None:
    result = plan(display_name="d" * 128, model_display_name="m" * 128)
    assert (
        result.body["displayName"] == "d" * 128 and sent(result)["model_display_name"] == "m" * 128
    )
    assert problems(display_name="d" * 129, model_display_name="m" * 129) == [
        ("display_name", "S-20"),
        ("model_display_name", "S-20"),
    ]


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        (GEN, "code-bison@002"),
        (GEN, "code-bison-32k@002"),
        (GEN, "code-bison-32k"),
        (CHAT, "codechat-bison@002"),
        (CHAT, "codechat-bison-32k@002"),
        (CHAT, "codechat-bison-32k"),
    ],
)
def test_s21_each_base_model_gets_its_template(kind: DatasetKind, model: str) -> None:
    result = plan(kind, large_model_reference=model)
    assert result.body["templateUri"] == TEMPLATES[kind] == result.derived.template
    assert sent(result)["large_model_reference"] == model


def test_s21_the_base_model_defaults_to_the_datasets_kind() -> None:
    assert sent(plan(GEN))["large_model_reference"] == "code-bison@002"
    assert sent(plan(CHAT))["large_model_reference"] == "codechat-bison@002"


def test_s21_the_base_model_must_fit_the_dataset() -> None:
    assert problems(GEN, large_model_reference="codechat-bison@002") == [
        ("large_model_reference", "S-21")
    ]
    assert problems(CHAT, large_model_reference="code-bison@002") == [
        ("large_model_reference", "S-21")
    ]
    assert problems(large_model_reference="text-bison@002") == [("large_model_reference", "S-21")]


def test_max_context_length_must_match_the_model() -> None:
    assert (
        sent(plan(large_model_reference="code-bison-32k@002", max_context_length="32k"))[
            "max_context_length"
        ]
        == "32k"
    )
    assert problems(max_context_length="32k") == [("max_context_length", "S-9")]
    assert problems(CHAT, max_context_length="8k") == [("max_context_length", "S-9")]
    assert "max_context_length" not in sent(plan())


# --- Types, sources and precedence ------------------------------------------------------------
def test_every_type_problem_is_reported_at_once() -> None:
    _, found = resolve(
        [
            (
                "manifest",
                {
                    "train_steps": "many",
                    "learning_rate_multiplier": "fast",
                    "enable_early_stopping": "maybe",
                    "labels": 3,
                    "stepz": 1,
                },
            )
        ]
    )
    assert sorted((p.parameter, p.rule) for p in found) == [
        ("enable_early_stopping", "type"),
        ("labels", "type"),
        ("learning_rate_multiplier", "type"),
        ("stepz", "unknown-parameter"),
        ("train_steps", "type"),
    ]
    assert all(p.message.startswith("manifest: ") for p in found)


@pytest.mark.parametrize("value", [True, 2.5, "2.5", "nan", "inf"])
def test_train_steps_must_be_a_whole_number(value: object) -> None:
    _, found = resolve([("test", {"train_steps": value})])
    assert [(p.parameter, p.rule) for p in found] == [("train_steps", "type")]


def test_later_sources_override_earlier_ones_and_labels_merge() -> None:
    environment = from_environment(
        {
            "CODETUNE_TRAIN_STEPS": "100",
            "CODETUNE_LABELS": "team=ml,env=prod",
            "CODETUNE_PROJECT": "acme-ml",
            "OTHER": "x",
            "CODETUNE_NOPE": "1",
        }
    )
    metadata = from_metadata(
        {"codetune-train-steps": "400", "codetune-labels": "env=dev", "content-type": "x"}
    )
    assigned, _ = from_assignments(["learning_rate_multiplier=0.5"])
    parameters, found = resolve(
        [
            ("environment", environment),
            ("manifest", {"train_steps": 200}),
            ("metadata", metadata),
            ("--set", assigned),
        ]
    )
    assert found == []
    assert parameters.train_steps == 400 and parameters.learning_rate_multiplier == 0.5
    assert parameters.project == "acme-ml"
    assert parameters.labels == {"team": "ml", "env": "dev"}


def test_assignments_need_a_name_and_an_equals_sign() -> None:
    _, found = from_assignments(["train_steps", "=3", "a=b=c"])
    assert [p.parameter for p in found] == ["train_steps", "=3"]


# --- The job id and labels --------------------------------------------------------------------
def test_the_job_id_is_deterministic_and_valid() -> None:
    first, again = plan(), plan()
    assert first.job_id == again.job_id
    assert JOB_ID_PATTERN.match(first.job_id) and first.job_id.startswith(
        "codetune-python-snippets-"
    )
    assert first.url.endswith(f"?pipelineJobId={first.job_id}")


def test_the_job_id_changes_with_the_dataset_version_and_parameters() -> None:
    ids = {
        plan().job_id,
        plan(train_steps=301).job_id,
        plan(
            dataset=DatasetRef.parse(
                "gs://tuning-drop/incoming/python-snippets.jsonl#1732700000000002"
            )
        ).job_id,
        plan(
            dataset=DatasetRef.parse(
                "gs://tuning-drop/other/python-snippets.jsonl#1732700000000001"
            )
        ).job_id,
    }
    assert len(ids) == 4


@pytest.mark.parametrize(
    "name", ["Ünïcode Dätä.jsonl", "x" * 300 + ".jsonl", "---.jsonl", "1-start.jsonl"]
)
def test_job_ids_and_labels_stay_valid_for_any_object_name(name: str) -> None:
    result = plan(dataset=DatasetRef.parse(f"gs://tuning-drop/in/{name}#5"))
    assert JOB_ID_PATTERN.match(result.job_id)
    for key, value in result.body["labels"].items():
        assert len(key) <= 63 and len(value) <= 63 and value == value.lower()


def test_labels_link_the_job_to_its_dataset_and_keep_the_users() -> None:
    labels = plan(labels={"team": "ml"}).body["labels"]
    assert labels == {
        "team": "ml",
        "codetune-dataset": "incoming-python-snippets-jsonl",
        "codetune-generation": "1732700000000001",
        "codetune-base-model": "code-bison-002",
    }


@pytest.mark.parametrize(
    "labels",
    [{"Team": "ml"}, {"team": "ML"}, {"1team": "x"}, {"t": "v" * 64}, {"codetune-dataset": "x"}],
)
def test_label_rules(labels: dict[str, str]) -> None:
    assert problems(labels=labels) == [("labels", "labels")]
