"""What a dataset version must pass before any job, knowing only the version and the
deployment: the plan (base model, kind, parameters, region, the model's table), the
deployment's base models, the formats the model's backend tunes, and the budget.

tune runs it before it submits; validate runs it too, so that a dataset validate calls valid
is never refused by tune for a reason validate could have known. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.exceptions import PlanRejected
from codetune.tuning import budget
from codetune.tuning.backends import TuningBackend, by_name, plan_from_sources
from codetune.tuning.backends.base import TuningPlan
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import Problem, resolve
from codetune.tuning.sources import Source


class Admitted(msgspec.Struct, frozen=True):
    plan: TuningPlan
    backend: TuningBackend
    derived: dict[str, Any]
    budget: budget.Admission  # call it with the tokens of the file the job reads


def admit(
    version: DatasetRef,
    kind: DatasetKind,
    form: DatasetFormat,
    examples: int,
    tokens: Mapping[str, Any] | None,
    sources: list[Source],
    problems: list[Problem],
    allowed_models: tuple[str, ...],
    state_bucket: str,
) -> Admitted:
    """The plan and its budget, or PlanRejected with the reasons."""
    plan = plan_from_sources(version, kind, examples, sources, problems, form, state_bucket)
    backend = by_name(plan.backend)
    deployment_default = sources[0][1].get("large_model_reference")
    if allowed_models and plan.base_model not in (*allowed_models, deployment_default):
        raise PlanRejected(
            [
                Problem(
                    "large_model_reference",
                    "deployment-only",
                    f"{plan.base_model} is not among this deployment's base models: "
                    + ", ".join(allowed_models),
                )
            ]
        )
    if form not in backend.formats:
        raise PlanRejected(
            [
                Problem(
                    "large_model_reference",
                    "format",
                    f"{plan.base_model} cannot tune a dataset in the {form} format "
                    f"(it takes {', '.join(sorted(backend.formats))}); tune a Gemini model",
                )
            ]
        )
    # The budget is the deployment's (its parameters are refused from a dataset's sources).
    limits, _ = resolve(sources)
    derived = plan.to_dict()["derived"]
    return Admitted(plan, backend, derived, budget.Admission(tokens, derived, limits, examples))
