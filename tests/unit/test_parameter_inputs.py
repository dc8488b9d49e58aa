"""Strict parameter inputs, checked before any job: integers within int64 and their documented
ranges, display names without control or bidi characters, labels and every other pattern
matched whole (a trailing newline is no longer a valid label)."""

from __future__ import annotations

import pytest

from codetune.dataset import DatasetKind
from codetune.exceptions import PlanRejected
from codetune.tuning.backends import by_name, plan_from_sources
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import (
    INT64_MAX,
    MAX_DEFAULT_CONTEXT_TOKENS,
    TuningParameters,
    resolve,
)

DEPLOYMENT = {
    "project": "acme-ml",
    "pipeline_region": "us-central1",
    "output_dir": "gs://drop/_codetune/pipeline",
}
VERSION = DatasetRef("gs://drop/incoming/train.jsonl", "1")


def problems(origin: str, **values: object) -> list[tuple[str, str]]:
    _, found = resolve([("deployment", DEPLOYMENT), (origin, values)])
    return [(p.parameter, p.rule) for p in found]


def refusal(model: str, **values: object) -> list[tuple[str, str]]:
    """What planning a job on these manifest values refuses (it must refuse, never raise
    anything else)."""
    with pytest.raises(PlanRejected) as rejected:
        plan_from_sources(
            VERSION,
            DatasetKind.GENERATION,
            100,
            [("deployment", DEPLOYMENT), ("manifest", {"large_model_reference": model, **values})],
        )
    return [(p.parameter, p.rule) for p in rejected.value.problems]


@pytest.mark.parametrize("origin", ["manifest", "metadata"])
@pytest.mark.parametrize(
    "value", [INT64_MAX + 1, str(INT64_MAX + 1), "9" * 400, 1e19, -(2**63) - 1]
)
def test_an_integer_past_int64_is_refused_naming_its_parameter(origin: str, value: object) -> None:
    for name in ("train_steps", "epoch_count", "adapter_size", "evaluation_interval"):
        assert problems(origin, **{name: value}) == [(name, "range")], name


@pytest.mark.parametrize("model", ["code-bison@002", "gemini-3.5-flash"])
def test_train_steps_past_int64_is_refused_before_any_job(model: str) -> None:
    """`train_steps=9223372036854775808` once crashed tune after the job was created."""
    assert ("train_steps", "range") in refusal(model, train_steps="9223372036854775808")
    assert ("epoch_count", "range") in refusal(model, epoch_count=2**64)


def test_integer_ranges() -> None:
    assert problems("manifest", epoch_count=0) == [("epoch_count", "range")]
    assert problems("manifest", epoch_count=101) == [("epoch_count", "range")]
    assert problems("manifest", epoch_count=100, train_steps=INT64_MAX) == []
    assert problems("deployment", max_training_tokens=0) == [("max_training_tokens", "range")]
    # At least one step: the pipeline planner's own rules, S-15 and S-17.
    assert ("train_steps", "S-15") in refusal("code-bison@002", train_steps=0)


@pytest.mark.parametrize("name", ["display_name", "model_display_name"])
@pytest.mark.parametrize(
    "character",
    ["\x00", "\x1b", "\r", "\n", "\t", "\x7f", "\x85", "\u202e", "\u202a", "\u2066", "\u2069",
     "\u200e", "\u200f", "\u061c"],
)  # fmt: skip
def test_a_display_name_refuses_control_and_bidi_characters(name: str, character: str) -> None:
    for value in (f"snippets{character}tuned", f"snippets{character}"):
        assert problems("manifest", **{name: value}) == [(name, "format")], repr(value)
    assert problems("metadata", **{name: f"a{character}b"}) == [(name, "format")]


def test_a_display_name_may_be_any_language() -> None:
    assert problems("manifest", display_name="Übersetzer 日本語 (v2)") == []
    assert problems("manifest", model_display_name="snippets — شرح") == []


@pytest.mark.parametrize("model", ["code-bison@002", "gemini-3.5-flash"])
@pytest.mark.parametrize(
    "labels",
    [{"team": "ml\n"}, {"team\n": "ml"}, {"team": "ml\r\n"}, {"Team": "ml"}, {"team": "m l"}],
)
def test_labels_match_whole(model: str, labels: dict[str, str]) -> None:
    assert ("labels", "labels") in refusal(model, labels=labels)


def test_a_label_written_as_text_is_read_whole_too() -> None:
    parameters, found = resolve([("metadata", {"labels": "team=ml,cost-center=42\n"})])
    assert found == [] and parameters.labels == {"team": "ml", "cost-center": "42"}


@pytest.mark.parametrize(
    ("name", "value", "model"),
    [
        ("project", "acme-ml\n", "code-bison@002"),
        ("output_dir", "gs://drop/out\n", "code-bison@002"),
        ("service_account", "job@acme-ml.iam.gserviceaccount.com\n", "gemini-3.5-flash"),
        ("service_account", "job@acme-ml.iam.gserviceaccount.com\n", "code-bison@002"),
        ("tensorboard_resource_id", "projects/p/locations/us-central1/tensorboards/1\n", "code-bison@002"),
        ("encryption_spec_key_name", "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k\n", "code-bison@002"),
    ],
)  # fmt: skip
def test_every_pattern_matches_whole(name: str, value: str, model: str) -> None:
    """`$` also matches before a final newline. (Values read from text are stripped first;
    the planners hold whatever reaches them whole.)"""
    backend = by_name("gemini" if model.startswith("gemini") else "pipeline")
    parameters = TuningParameters(**{**DEPLOYMENT, "large_model_reference": model, name: value})
    with pytest.raises(PlanRejected) as rejected:
        backend.plan(VERSION, DatasetKind.GENERATION, 100, parameters)
    assert name in [p.parameter for p in rejected.value.problems]
    parameters = TuningParameters(
        **{**DEPLOYMENT, "large_model_reference": model, name: value.strip()}
    )
    plan = backend.plan(VERSION, DatasetKind.GENERATION, 100, parameters)  # the same, whole
    assert plan.base_model == model


@pytest.mark.parametrize("origin", ["manifest", "metadata"])
def test_a_default_context_past_8192_tokens_is_refused(origin: str) -> None:
    """It is repeated in every example: a 60 KB one would bill 15,000 tokens an example."""
    assert problems(origin, default_context="Our house style. " * 3_600) == [
        ("default_context", "range")
    ]
    assert problems(origin, default_context="x" * (4 * MAX_DEFAULT_CONTEXT_TOKENS)) == []
    over = "x" * (4 * MAX_DEFAULT_CONTEXT_TOKENS + 1)
    assert problems(origin, default_context=over) == [("default_context", "range")]
    # Counted by weight: 2,731 CJK characters are 8,193 UTF-8 bytes beyond ASCII, a token each.
    assert problems(origin, default_context="字" * 2_731) == [("default_context", "range")]
    assert problems(origin, default_context="字" * 2_730) == []


def test_region_is_another_name_of_pipeline_region() -> None:
    from codetune.config import Settings
    from codetune.tuning.parameters import from_assignments, from_environment

    assert from_environment({"CODETUNE_REGION": "europe-west4"}) == {
        "pipeline_region": "europe-west4"
    }
    assigned, wrong = from_assignments(["region=europe-west4"])
    parameters, found = resolve([("--set", assigned)])
    assert wrong == [] and found == [] and parameters.pipeline_region == "europe-west4"
    _, twice = resolve([("--set", {"region": "europe-west4", "pipeline_region": "us-central1"})])
    assert [(p.parameter, p.rule) for p in twice] == [("pipeline_region", "duplicate-key")]
    # A dataset may name it no more than the old name: it is the deployment's.
    assert problems("manifest", region="europe-west4") == [("pipeline_region", "deployment-only")]
    assert Settings.from_environment({"CODETUNE_REGION": "europe-west4"}).regions == (
        "europe-west4",
    )
    with pytest.raises(ValueError, match="name the same setting"):
        Settings.from_environment(
            {"CODETUNE_REGION": "europe-west4", "CODETUNE_PIPELINE_REGION": "us-central1"}
        )


@pytest.mark.parametrize("model", ["gemini-3.5-flash", "code-bison@002"])
def test_a_job_planned_with_region_goes_there(model: str) -> None:
    deployment = {**DEPLOYMENT, "region": "europe-west4"}
    del deployment["pipeline_region"]
    plan = plan_from_sources(
        VERSION,
        DatasetKind.GENERATION,
        100,
        [("deployment", deployment), ("manifest", {"large_model_reference": model})],
    )
    assert "/locations/europe-west4/" in plan.url
