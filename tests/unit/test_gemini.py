"""Gemini supervised tuning: conversion of both source formats, Gemini's rules, and the
tuningJobs request held against the official TuningJob schema."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from codetune.dataset import DatasetKind, DatasetRole
from codetune.exceptions import PlanRejected
from codetune.gemini import models as gemini_models
from codetune.gemini.check import convert_and_check, problems
from codetune.gemini.convert import convert_example
from codetune.gemini.plan import (
    LIST_LABEL,
    REQUEST_LABEL,
    TuningJobPlan,
    list_label,
    plan_tuning_job,
)
from codetune.local.discovery import json_schema
from codetune.local.vertex_standin import GEMINI_EXAMPLE
from codetune.tuning.backends import plan_from_sources
from codetune.tuning.common import LABEL_KEY, LABEL_VALUE, DatasetRef
from codetune.tuning.parameters import resolve
from tests.support import chat, generation

GEN, CHAT = DatasetKind.GENERATION, DatasetKind.CHAT
DATASET = DatasetRef.parse("gs://tuning-drop/incoming/snippets.jsonl#42")
BASE = {
    "project": "acme-ml",
    "pipeline_region": "us-central1",
    "large_model_reference": "gemini-3.5-flash",
}
TUNING_JOB = jsonschema.Draft202012Validator(
    json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1TuningJob", request=True)
)


def plan(kind: DatasetKind = GEN, examples: int = 300, **values: Any) -> TuningJobPlan:
    result = plan_from_sources(DATASET, kind, examples, [("test", {**BASE, **values})])
    assert isinstance(result, TuningJobPlan)
    return result


def rejected(kind: DatasetKind = GEN, **values: Any) -> list[tuple[str, str]]:
    with pytest.raises(PlanRejected) as raised:
        plan(kind, **values)
    return [(p.parameter, p.rule) for p in raised.value.problems]


# --- Conversion -------------------------------------------------------------------------------
def test_a_generation_example_becomes_a_user_and_a_model_turn() -> None:
    example = orjson.loads(generation(1))
    assert convert_example(example, GEN, None) == {
        "contents": [
            {"role": "user", "parts": [{"text": example["input_text"]}]},
            {"role": "model", "parts": [{"text": example["output_text"]}]},
        ]
    }


def test_chat_authors_become_roles_and_context_the_system_instruction() -> None:
    messages = [
        {"author": a, "content": f"turn {i}"}
        for i, a in enumerate(["user", "assistant", "user", "assistant"])
    ]
    converted = convert_example(
        {"context": "Go only.", "messages": messages}, CHAT, "ignored default"
    )
    assert converted["systemInstruction"] == {"role": "system", "parts": [{"text": "Go only."}]}
    assert [turn["role"] for turn in converted["contents"]] == ["user", "model", "user", "model"]
    assert [turn["parts"][0]["text"] for turn in converted["contents"]] == [
        "turn 0",
        "turn 1",
        "turn 2",
        "turn 3",
    ]


def test_default_context_applies_to_examples_without_their_own() -> None:
    converted = convert_example(orjson.loads(chat(3)), CHAT, "Answer in Python.")
    assert converted["systemInstruction"]["parts"][0]["text"] == "Answer in Python."
    assert convert_example(orjson.loads(generation(3)), GEN, "Answer in Python.")[
        "systemInstruction"
    ]
    assert "systemInstruction" not in convert_example(orjson.loads(chat(3)), CHAT, None)


def test_converted_datasets_pass_geminis_rules() -> None:
    written: list[bytes] = []
    result = convert_and_check(
        [chat(i) for i in range(20)], written.append, CHAT, DatasetRole.TRAINING
    )
    assert result.valid and result.examples == 20 and len(written) == 20
    assert all(problems(orjson.loads(line)) == [] for line in written)
    assert result.bytes_written == sum(map(len, written))


@pytest.mark.parametrize(
    "example",
    [
        {},
        {"contents": []},
        {
            "contents": [
                {"role": "model", "parts": [{"text": "a"}]},
                {"role": "user", "parts": [{"text": "b"}]},
            ]
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "a"}]},
                {"role": "user", "parts": [{"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}]},
            ]
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "a"}]},
                {"role": "assistant", "parts": [{"text": "b"}]},
            ]
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": ""}]},
                {"role": "model", "parts": [{"text": "b"}]},
            ]
        },
        {"contents": [{"role": "user", "parts": []}, {"role": "model", "parts": [{"text": "b"}]}]},
        {
            "systemInstruction": {"parts": [{"text": " "}]},
            "contents": [
                {"role": "user", "parts": [{"text": "a"}]},
                {"role": "model", "parts": [{"text": "b"}]},
            ],
        },
    ],
)
def test_geminis_format_rules_catch_each_fault(example: dict[str, Any]) -> None:
    assert problems(example)


def test_geminis_limits_on_tokens_and_validation_size() -> None:
    huge = generation(1, output_text="x" * (131_073 * 4))
    result = convert_and_check([huge], lambda _: None, GEN, DatasetRole.TRAINING)
    assert [(str(f.rule), f.line) for f in result.errors.listed] == [("gemini-tokens", 1)]
    small = [generation(i) for i in range(5_001)]
    result = convert_and_check(small, lambda _: None, GEN, DatasetRole.EVALUATION)
    assert [str(f.rule) for f in result.errors.listed] == ["gemini-size"]
    assert convert_and_check(small[:5_000], lambda _: None, GEN, DatasetRole.EVALUATION).valid


# --- The request ------------------------------------------------------------------------------
PLANS: list[tuple[str, DatasetKind, dict[str, Any]]] = [
    ("defaults", GEN, {}),
    ("chat", CHAT, {}),
    (
        "hyperparameters",
        GEN,
        {"epoch_count": 5, "learning_rate_multiplier": 0.5, "adapter_size": 16},
    ),
    ("lite", CHAT, {"large_model_reference": "gemini-3.5-flash-lite", "adapter_size": 1}),
    (
        "3.1-lite",
        GEN,
        {"large_model_reference": "gemini-3.1-flash-lite", "adapter_size": 16, "epoch_count": 2},
    ),
    ("validation", GEN, {"evaluation_data_uri": "gs://tuning-drop/incoming/snippets.eval.jsonl"}),
    (
        "cmek-sa-labels",
        GEN,
        {
            "service_account": "tuner@acme-ml.iam.gserviceaccount.com",
            "labels": {"team": "ml"},
        },
    ),
    (
        "names-context",
        CHAT,
        {
            "model_display_name": "snippets v3",
            "display_name": "nightly",
            "default_context": "Go only.",
        },
    ),
    ("other-region", GEN, {"pipeline_region": "europe-west4"}),
    (
        "chat-everything",
        CHAT,
        {
            "epoch_count": 1,
            "adapter_size": 2,
            "evaluation_data_uri": "gs://tuning-drop/x.eval.jsonl",
        },
    ),
]


@pytest.mark.parametrize(("name", "kind", "values"), PLANS, ids=[p[0] for p in PLANS])
def test_bodies_match_the_official_tuning_job_schema(
    name: str, kind: DatasetKind, values: dict[str, Any]
) -> None:
    result = plan(kind, **values)
    wire = orjson.loads(orjson.dumps(result.body))
    assert [e.message for e in TUNING_JOB.iter_errors(wire)] == []
    spec = wire["supervisedTuningSpec"]
    assert (
        spec["trainingDatasetUri"]
        == "gs://tuning-drop-state/_codetune/converted/incoming/snippets.jsonl/42/training.gemini.jsonl"
    )
    assert (
        result.url
        == f"https://{result.region}-aiplatform.googleapis.com/v1/projects/acme-ml/locations/{result.region}/tuningJobs"
    )
    assert wire["labels"][REQUEST_LABEL] == result.request_id


# The digests of these plans before the sweep's label existed (the code of 2026-12-03): claims
# are keyed by them and jobs found by them, so they must not change.
DIGESTS_BEFORE_THE_LABEL = {
    "defaults": "42e3cfa8c456f46601c8b76e",
    "chat": "42e3cfa8c456f46601c8b76e",
    "hyperparameters": "de09e2d475fdcfac8ebe16cb",
    "lite": "99de57f9d259db141ff8e7cc",
    "3.1-lite": "e5416ae17c38862a700f0d98",
    "validation": "f7254a61ff36903b973a5ebd",
    "cmek-sa-labels": "e7cd4b502374e5fa06c6482d",
    "names-context": "4c56823507b5f9f6c41d9f64",
    "other-region": "42e3cfa8c456f46601c8b76e",
    "chat-everything": "315cd0b2b4d55b07b21d95d5",
}


@pytest.mark.parametrize(("name", "kind", "values"), PLANS, ids=[p[0] for p in PLANS])
def test_the_sweeps_label_leaves_every_request_digest_as_it_was(
    name: str, kind: Any, values: dict[str, Any]
) -> None:
    body = plan(kind, **values).body
    assert body["labels"][REQUEST_LABEL] == DIGESTS_BEFORE_THE_LABEL[name]
    assert body["labels"][LIST_LABEL] == "19700101-tuning-drop-state"  # generation 42
    assert all(
        LABEL_KEY.fullmatch(k) and LABEL_VALUE.fullmatch(v) for k, v in body["labels"].items()
    )


def test_the_label_is_a_valid_label_value_and_tells_deployments_apart() -> None:
    day = "1764547200000000"  # 2025-12-01T00:00:00Z in microseconds
    assert list_label("acme-tuning-state", day) == "20251201-acme-tuning-state"
    assert list_label("acme-tuning-state", str(int(day) + 86_399_999_999)) == (
        "20251201-acme-tuning-state"
    )
    assert list_label("acme.example.com-state", day) == "20251201-acme-example-com-state"
    long_a, long_b = "a." * 100 + "x", "a." * 100 + "y"
    values = [list_label(b, day) for b in (long_a, long_b, "drop-state")]
    assert len(set(values)) == 3
    assert all(v is not None and LABEL_VALUE.fullmatch(v) for v in values)
    assert list_label("drop-state", str(2**63 - 1)) is not None  # past any date: still a value
    assert list_label("drop-state", None) is None and list_label("drop-state", "latest") is None


def test_the_hyperparameters_are_sent_as_the_api_types_them() -> None:
    body = plan(epoch_count=5, learning_rate_multiplier=0.5, adapter_size=16).body
    assert body["supervisedTuningSpec"]["hyperParameters"] == {
        "epochCount": "5",
        "learningRateMultiplier": 0.5,
        "adapterSize": "ADAPTER_SIZE_SIXTEEN",
    }
    assert "hyperParameters" not in plan().body["supervisedTuningSpec"]  # the service's defaults


def test_the_request_id_is_deterministic_and_follows_the_parameters() -> None:
    assert plan().request_id == plan().request_id
    assert plan().request_id != plan(epoch_count=2).request_id
    assert plan().request_id != plan(evaluation_data_uri="gs://tuning-drop/a.eval.jsonl").request_id


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("train_steps", 300),
        ("accelerator_type", "GPU"),
        ("location", "us-central1"),
        ("evaluation_interval", 20),
        ("enable_early_stopping", True),
        ("enable_checkpoint_selection", "true"),
        ("tensorboard_resource_id", "projects/a/locations/us-central1/tensorboards/1"),
        ("max_context_length", "32k"),
    ],
)
def test_pipeline_only_parameters_are_refused_by_name(name: str, value: object) -> None:
    assert rejected(**{name: value}) == [(name, "gemini")]


def test_train_steps_points_to_epoch_count() -> None:
    with pytest.raises(PlanRejected) as raised:
        plan(train_steps=300)
    assert "epoch_count" in raised.value.problems[0].message


def test_hyperparameter_ranges() -> None:
    assert rejected(epoch_count=0) == [("epoch_count", "range")]
    assert rejected(learning_rate_multiplier=0) == [("learning_rate_multiplier", "S-16")]
    assert rejected(adapter_size=3) == [("adapter_size", "gemini")]
    assert rejected(large_model_reference="gemini-3.5-flash-lite", adapter_size=32) == [
        ("adapter_size", "gemini")
    ]


def test_the_model_table_refuses_what_the_model_does_not_take() -> None:
    """Per model (docs/gemini.md): 3.x tunes only in us-central1 and europe-west4 and takes no
    CMEK key; 2.5 Pro takes adapter sizes up to 8."""
    with pytest.raises(PlanRejected) as raised:
        plan(pipeline_region="asia-east1")
    [problem] = raised.value.problems
    assert problem.parameter == "pipeline_region"
    assert "us-central1, europe-west4" in problem.message
    key = "projects/acme-ml/locations/us-central1/keyRings/r/cryptoKeys/k"
    with pytest.raises(PlanRejected) as raised:
        plan(encryption_spec_key_name=key)
    [problem] = raised.value.problems
    assert (problem.parameter, problem.rule) == ("encryption_spec_key_name", "gemini")
    assert "CMEK" in problem.message
    before = date(2026, 6, 1)  # when 2.5 still tuned, with CMEK and in more regions
    pro = {"large_model_reference": "gemini-2.5-pro"}
    assert plan_on(before, **pro, adapter_size=16) == [("adapter_size", "gemini")]
    assert plan_on(before, **pro, pipeline_region="asia-east1", encryption_spec_key_name=key) == [
        ("encryption_spec_key_name", "gemini")  # a key in another region than the job's
    ]
    assert isinstance(plan_on(before, **pro, encryption_spec_key_name=key), list)


def test_the_pipeline_refuses_geminis_own_parameters() -> None:
    with pytest.raises(PlanRejected) as raised:
        plan_from_sources(
            DATASET,
            GEN,
            300,
            [
                (
                    "test",
                    {
                        **BASE,
                        "large_model_reference": "code-bison@002",
                        "output_dir": "gs://tuning-drop/out",
                        "epoch_count": 3,
                    },
                )
            ],
        )
    assert [(p.parameter, p.rule) for p in raised.value.problems] == [("epoch_count", "S-21")]


def test_small_datasets_warn() -> None:
    assert plan(examples=50).warnings and not plan(examples=100).warnings


# --- Google's format, as the stand-in judges it (codetune.dataset.gemini_format) ---------------
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def documented_examples() -> list[dict[str, Any]]:
    lines = (FIXTURES / "gemini-documented-examples.jsonl").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


def test_googles_documented_example_lines_satisfy_the_independent_schema() -> None:
    for example in documented_examples():
        assert list(GEMINI_EXAMPLE.iter_errors(example)) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},  # OpenAI's role name
        {"contents": [{"role": "user", "content": "x"}]},  # messages-style, not parts
        {"contents": []},
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [{"text": "a", "fileData": {"mimeType": "t", "fileUri": "gs://b/o"}}],
                }
            ]
        },
        {"messages": [{"role": "user", "content": "x"}]},
        {
            "systemInstruction": {"parts": [{"text": 3}]},
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        },
    ],
)
def test_the_schema_refuses_what_google_does_not_document(broken: dict[str, Any]) -> None:
    assert list(GEMINI_EXAMPLE.iter_errors(broken)) != []


@pytest.mark.parametrize("kind", list(DatasetKind))
@pytest.mark.parametrize("context", [None, "You write Python."])
def test_every_converted_example_satisfies_googles_format(
    kind: DatasetKind, context: str | None
) -> None:
    source = generation(1) if kind is DatasetKind.GENERATION else chat(1, context="Be brief.")
    converted = convert_example(orjson.loads(source), kind, context)
    assert list(GEMINI_EXAMPLE.iter_errors(converted)) == []


# --- The tunable models: table, regions, lifecycle ------------------------------------------


def plan_on(day: date, **values: object) -> list[tuple[str, str]] | list[str]:
    """The problems of planning on `day`, or the plan's warnings when there are none."""
    parameters, found = resolve([("test", {**BASE, **values})])
    assert found == []
    try:
        result = plan_tuning_job(
            DatasetRef("gs://tuning-drop/incoming/a.jsonl", "1"), GEN, 200, parameters, today=day
        )
    except PlanRejected as rejected:
        return [(p.parameter, p.rule) for p in rejected.problems]
    return result.warnings


def test_the_default_is_the_newest_generally_available_flash_on_the_tuning_page() -> None:
    default = gemini_models.GEMINI_MODELS[gemini_models.DEFAULT_MODEL]
    flashes = [m for m in gemini_models.MODELS if m.name.endswith("-flash") and m.released]
    today = date(2026, 12, 3)
    assert default.retirement is None or default.days_left(today) > 90  # type: ignore[operator]
    assert default.released == max(m.released for m in flashes if m.released)


def test_the_retired_models_are_refused_today_with_their_replacement() -> None:
    """Vertex AI retired 2.5 Pro, Flash and Flash-Lite on 2026-10-20 and 2.0 on 2026-06-01."""
    today = date(2026, 12, 3)
    for name, instead in (
        ("gemini-2.5-pro", "gemini-3.8-flash"),
        ("gemini-2.5-flash", "gemini-3.5-flash"),
        ("gemini-2.5-flash-lite", "gemini-3.5-flash-lite"),
        ("gemini-2.0-flash-001", "gemini-3.1-flash-lite"),
    ):
        with pytest.raises(PlanRejected) as raised:
            plan_tuning_job(
                DATASET, GEN, 200, resolve([("test", {**BASE, "large_model_reference": name})])[0],
                today=today,
            )  # fmt: skip
        [problem] = raised.value.problems
        assert problem.rule == "lifecycle" and instead in problem.message, problem


def test_a_model_past_its_retirement_is_refused_and_one_near_it_warned_about() -> None:
    flash = gemini_models.GEMINI_MODELS["gemini-3.5-flash"]
    assert flash.retirement == date(2027, 5, 19)
    assert plan_on(flash.retirement) == [("large_model_reference", "lifecycle")]
    near = plan_on(flash.retirement - timedelta(days=90))
    assert any("retires on Vertex AI on 2027-05-19 (90 days)" in w for w in near)
    far = plan_on(flash.retirement - timedelta(days=91))
    assert not any("retires" in w for w in far)
    lite = {"large_model_reference": "gemini-3.5-flash-lite"}  # none announced
    assert not any("retires" in w for w in plan_on(date(2030, 1, 1), **lite))


def test_a_model_or_region_outside_the_table_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(PlanRejected) as raised:
        plan(large_model_reference="gemini-9-ultra")
    [problem] = raised.value.problems
    assert "gemini-3.5-flash" in problem.message and "code-bison@002" in problem.message
    with pytest.raises(PlanRejected) as raised:
        plan(pipeline_region="evil-host1")
    [problem] = raised.value.problems
    assert problem.parameter == "pipeline_region" and "europe-west4" in problem.message


def test_the_documentation_shows_the_model_table() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "gemini.md"
    shown = re.search(r"<!-- models:start -->\n(.*?)<!-- models:end -->", docs.read_text(), re.S)
    assert shown is not None
    assert shown.group(1) == gemini_models.markdown_table(), "run: python -m codetune.gemini.models"
