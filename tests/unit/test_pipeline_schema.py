"""Every request body is held against Google's official PipelineJob schema (aiplatform v1
discovery document), which rejects unknown fields, wrong types and output-only fields."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from codetune.dataset import DatasetKind
from codetune.local.discovery import json_schema
from codetune.pipeline.plan import plan_pipeline_job
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import PARAMETERS, PIPELINE, resolve

PIPELINE_JOB = json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1PipelineJob", request=True)
VALIDATOR = jsonschema.Draft202012Validator(PIPELINE_JOB)

BASE = {
    "project": "acme-ml",
    "pipeline_region": "us-central1",
    "output_dir": "gs://tuning-drop/out",
}
KEY = "projects/acme-ml/locations/us-central1/keyRings/r/cryptoKeys/k"
EVAL = "gs://tuning-drop/in/a.eval.jsonl"
PLANS: list[tuple[str, DatasetKind, dict[str, Any]]] = [
    ("generation-defaults", DatasetKind.GENERATION, {}),
    ("chat-defaults", DatasetKind.CHAT, {}),
    (
        "generation-tpu",
        DatasetKind.GENERATION,
        {"accelerator_type": "TPU", "pipeline_region": "europe-west4"},
    ),
    (
        "generation-evaluation",
        DatasetKind.GENERATION,
        {
            "evaluation_data_uri": EVAL,
            "evaluation_interval": 10,
            "enable_early_stopping": False,
            "enable_checkpoint_selection": "true",
        },
    ),
    ("generation-cmek", DatasetKind.GENERATION, {"encryption_spec_key_name": KEY}),
    (
        "generation-32k",
        DatasetKind.GENERATION,
        {"large_model_reference": "code-bison-32k@002", "max_context_length": "32k"},
    ),
    (
        "chat-32k-context",
        DatasetKind.CHAT,
        {"large_model_reference": "codechat-bison-32k@002", "default_context": "Go only."},
    ),
    (
        "tensorboard",
        DatasetKind.GENERATION,
        {"tensorboard_resource_id": "projects/acme-ml/locations/us-central1/tensorboards/7"},
    ),
    (
        "other-upload-region",
        DatasetKind.CHAT,
        {"location": "asia-northeast1", "pipeline_region": "asia-northeast1"},
    ),
    (
        "service-account-labels",
        DatasetKind.GENERATION,
        {
            "service_account": "tuner@acme-ml.iam.gserviceaccount.com",
            "labels": {"team": "ml", "cost-center": "42"},
        },
    ),
    (
        "names",
        DatasetKind.GENERATION,
        {
            "display_name": "Tuning: snippets ✓",
            "model_display_name": "snippets v2",
            "train_steps": 1000,
            "learning_rate_multiplier": 0.25,
        },
    ),
    (
        "everything",
        DatasetKind.GENERATION,
        {
            "evaluation_data_uri": EVAL,
            "evaluation_interval": 25,
            "enable_early_stopping": True,
            "enable_checkpoint_selection": "default",
            "tensorboard_resource_id": "projects/p1/locations/us-central1/tensorboards/1",
            "encryption_spec_key_name": KEY,
            "labels": {"a": "b"},
            "service_account": "sa@acme-ml.iam.gserviceaccount.com",
        },
    ),
]

# What the templates expect each parameter value to be (the Vertex AI SDK's types for them).
PARAMETER_TYPES: dict[str, type | tuple[type, ...]] = {
    "project": str,
    "location": str,
    "large_model_reference": str,
    "model_display_name": str,
    "dataset_uri": str,
    "train_steps": int,
    "learning_rate_multiplier": (int, float),
    "accelerator_type": str,
    "evaluation_data_uri": str,
    "evaluation_interval": int,
    "enable_early_stopping": bool,
    "enable_checkpoint_selection": str,
    "tensorboard_resource_id": str,
    "default_context": str,
    "encryption_spec_key_name": str,
    "max_context_length": str,
}


def build(kind: DatasetKind, values: dict[str, Any]) -> dict[str, Any]:
    parameters, problems = resolve([("test", {**BASE, **values})])
    assert problems == []
    return plan_pipeline_job(
        DatasetRef.parse("gs://tuning-drop/in/a.jsonl#7"), kind, 300, parameters
    ).body


def test_the_plans_send_every_pipeline_parameter_and_differ() -> None:
    """So that the schema test below holds every parameter the pipeline takes, as sent."""
    sent = {
        key
        for _, kind, values in PLANS
        for key in build(kind, values)["runtimeConfig"]["parameterValues"]
    }
    takes = {row.name for row in PARAMETERS if "parameterValues" in row.lands.get(PIPELINE, "")}
    assert takes - sent == set()
    bodies = [
        orjson.dumps(build(kind, values), option=orjson.OPT_SORT_KEYS) for _, kind, values in PLANS
    ]
    assert len(set(bodies)) == len(bodies)


@pytest.mark.parametrize(("name", "kind", "values"), PLANS, ids=[p[0] for p in PLANS])
def test_body_matches_the_official_pipeline_job_schema(
    name: str, kind: DatasetKind, values: dict[str, Any]
) -> None:
    body = build(kind, values)
    # What goes over the wire is JSON: check the body after a round trip through it.
    wire = orjson.loads(orjson.dumps(body))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(wire)]
    assert errors == []
    assert wire["runtimeConfig"]["gcsOutputDirectory"]
    assert len(wire["displayName"]) <= 128
    for key, value in wire["runtimeConfig"]["parameterValues"].items():
        assert key in PARAMETER_TYPES, key  # the page's "evaluation_data_uri:" typo can never pass
        assert isinstance(value, PARAMETER_TYPES[key]) and not (
            isinstance(value, bool) and PARAMETER_TYPES[key] is int
        ), key


@pytest.mark.parametrize(
    "fault",
    [
        {"templateUri": 3},
        {
            "runtimeConfig": {
                "gcsOutputDirectory": "gs://x/y",
                "parameterValues": {},
                "gcsOutputDir": "x",
            }
        },
        {"encryptionSpec": {"kmsKeyName": "k", "key": "k"}},
        {"labels": {"a": 1}},
        {"state": "PIPELINE_STATE_RUNNING"},  # output only
        {"displayname": "typo"},
    ],
)
def test_the_schema_check_rejects_broken_bodies(fault: dict[str, Any]) -> None:
    body = {**build(DatasetKind.GENERATION, {}), **fault}
    assert list(VALIDATOR.iter_errors(body))
