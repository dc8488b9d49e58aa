"""The registry of tuning backends, keyed by base model, and planning from parameter sources.

Adding a backend is one module implementing `TuningBackend` and one entry in BACKENDS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from codetune.dataset import DatasetFormat, DatasetKind, RuleSet
from codetune.exceptions import CodetuneError, InputError, PlanRejected
from codetune.gemini import models as gemini_models
from codetune.tuning.backends.base import (
    JobOutcome,
    SubmitContext,
    Submitted,
    TuningBackend,
    TuningPlan,
)
from codetune.tuning.backends.gemini import GeminiBackend
from codetune.tuning.backends.pipeline import PipelineBackend
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import Problem, resolve

BACKENDS: dict[str, TuningBackend] = {b.name: b for b in (GeminiBackend(), PipelineBackend())}

__all__ = [
    "BACKENDS",
    "JobOutcome",
    "SubmitContext",
    "Submitted",
    "TuningBackend",
    "TuningPlan",
    "backend_for",
    "by_name",
    "default_model",
    "default_rules",
    "known_models",
    "plan_from_sources",
    "resolve_base_model",
    "rules_for",
]


def default_model() -> str:
    """The base model when neither the deployment nor the dataset names one: today's Gemini
    Flash (codetune.gemini.models.DEFAULT_MODEL). The code-bison pipeline only when named."""
    return gemini_models.DEFAULT_MODEL


def known_models() -> list[str]:
    return [model for backend in BACKENDS.values() for model in backend.models()]


def backend_for(base_model: str) -> TuningBackend | None:
    """The backend that tunes `base_model`, None if none does."""
    return next((b for b in BACKENDS.values() if b.tunes(base_model)), None)


def rules_for(base_model: str) -> RuleSet | None:
    """The rules a dataset for `base_model` is validated against; None for an unknown model."""
    backend = backend_for(base_model)
    return None if backend is None else backend.rules(base_model)


def default_rules() -> RuleSet:
    """The rules of the default base model."""
    rules = rules_for(default_model())
    if rules is None:
        raise CodetuneError(f"the default base model {default_model()} has no backend")
    return rules


def resolve_base_model(sources: Iterable[tuple[str, Mapping[str, object]]]) -> str:
    """The base model the parameter sources name (lowest precedence first), else the default:
    the one resolution validate and tune both use."""
    parameters, _ = resolve(sources)
    return parameters.large_model_reference or default_model()


def by_name(name: str) -> TuningBackend:
    """The backend a stored pointer names; InputError for one this version does not have."""
    backend = BACKENDS.get(name)
    if backend is None:
        raise InputError(f"no tuning backend {name[:40]!r} (known: {', '.join(BACKENDS)})")
    return backend


def plan_from_sources(
    dataset: DatasetRef,
    kind: DatasetKind,
    examples: int,
    sources: Iterable[tuple[str, Mapping[str, object]]],
    problems: Iterable[Problem] = (),
    format: DatasetFormat = DatasetFormat.SEED,
    state_bucket: str | None = None,
) -> TuningPlan:
    """Resolve the parameter sources (lowest precedence first) and plan with the base model's
    backend. PlanRejected lists the problems of every source and every rule together, `problems`
    (found upstream) first."""
    parameters, found = resolve(sources)
    found = [*problems, *found]
    model = parameters.large_model_reference or default_model()
    backend = backend_for(model)
    if backend is None:
        raise PlanRejected(
            [
                *found,
                Problem(
                    "large_model_reference",
                    "S-21",
                    f"unknown base model {model!r}; use one of {', '.join(known_models())}",
                ),
            ]
        )
    try:
        plan = backend.plan(dataset, kind, examples, parameters, format, state_bucket)
    except PlanRejected as rejected:
        raise PlanRejected(found + rejected.problems) from None
    if found:
        raise PlanRejected(found)
    return plan
