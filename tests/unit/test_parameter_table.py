"""The parameter table is the one place a parameter is described: the typed parameters, the
parsers, each backend's refusals, who may set it, and the documentation all follow from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codetune.dataset import DatasetKind
from codetune.exceptions import PlanRejected
from codetune.tuning.backends import BACKENDS, plan_from_sources
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import (
    PARAMETERS,
    Scope,
    TuningParameters,
    markdown_table,
    resolve,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"


def test_every_row_is_a_typed_parameter_and_every_typed_parameter_a_row() -> None:
    assert [p.name for p in PARAMETERS] != [] and len({p.name for p in PARAMETERS}) == len(
        PARAMETERS
    )
    assert {p.name for p in PARAMETERS} == set(TuningParameters.__struct_fields__)


def test_rows_name_only_real_backends_and_say_where_each_value_lands() -> None:
    for row in PARAMETERS:
        assert row.backends <= set(BACKENDS), row.name
        assert set(row.lands) == set(row.backends), row.name
        assert set(row.refused_by).isdisjoint(row.backends), row.name


def test_the_documentation_shows_the_table() -> None:
    text = DOCS.read_text()
    shown = re.search(r"<!-- parameters:start -->\n(.*?)<!-- parameters:end -->", text, re.S)
    assert shown is not None
    assert shown.group(1) == markdown_table(), "run: python -m codetune.tuning.parameters"


DEPLOYMENT_ONLY = [p.name for p in PARAMETERS if p.scope is Scope.DEPLOYMENT]


@pytest.mark.parametrize("name", DEPLOYMENT_ONLY)
@pytest.mark.parametrize("origin", ["manifest", "metadata"])
def test_a_dataset_cannot_set_what_only_the_deployment_sets(name: str, origin: str) -> None:
    parameters, found = resolve([("deployment", {}), (origin, {name: "x"})])
    assert [(p.parameter, p.rule) for p in found] == [(name, "deployment-only")]
    assert getattr(parameters, name) is None
    _, found = resolve([("deployment", {name: "x"}), ("--set", {name: "y"})])
    assert found == [] or all(p.rule == "type" for p in found)


def test_where_jobs_run_and_write_is_in_the_deployment_only_list() -> None:
    assert {
        "project",
        "pipeline_region",
        "output_dir",
        "location",
        "service_account",
        "encryption_spec_key_name",
        "tensorboard_resource_id",
    } <= set(DEPLOYMENT_ONLY)


@pytest.mark.parametrize(
    ("model", "row"),
    [
        (model, row)
        for backend in BACKENDS.values()
        for model in backend.models()[:1]
        for row in PARAMETERS
        if backend.name in row.refused_by
    ],
)
def test_each_backend_refuses_what_its_rows_say(model: str, row: object) -> None:
    from codetune.tuning.parameters import Parameter

    assert isinstance(row, Parameter)
    values = {
        "project": "acme-ml",
        "pipeline_region": "us-central1",
        "output_dir": "gs://b/out",
        "large_model_reference": model,
    }
    example = {
        "train_steps": "300",
        "epoch_count": "2",
        "adapter_size": "4",
        "location": "us-central1",
        "accelerator_type": "GPU",
        "evaluation_interval": "5",
        "enable_early_stopping": "false",
        "enable_checkpoint_selection": "default",
        "max_context_length": "8k",
        "tensorboard_resource_id": "projects/p/locations/us-central1/tensorboards/1",
        "evaluation_examples": "10",
        "evaluation_max_output_tokens": "512",
        "evaluation_temperature": "0.2",
        "language": "python",
    }
    with pytest.raises(PlanRejected) as raised:
        plan_from_sources(
            DatasetRef("gs://bucket/incoming/a.jsonl", "1"),
            DatasetKind.GENERATION,
            100,
            [("deployment", {**values, row.name: example[row.name]})],
        )
    assert (row.name, "S-21" if "bison" in model else "gemini") in [
        (p.parameter, p.rule) for p in raised.value.problems
    ]
