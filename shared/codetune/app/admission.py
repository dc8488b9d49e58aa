"""What a dataset version must pass before any job, knowing only the version and the
deployment: the plan (base model, kind, parameters, region, the model's table), the
deployment's base models, the formats the model's backend tunes, and the budget.

tune runs it before it submits; validate runs it too, so that a dataset validate calls valid
is never refused by tune for a reason validate could have known. Pure: no I/O.
"""

from __future__ import annotations

import msgspec

from codetune.dataset import DatasetFormat, DatasetKind, Finding, Rule, ValidationReport
from codetune.exceptions import PlanRejected
from codetune.state.records import Tokens
from codetune.tuning import budget
from codetune.tuning.backends import (
    TuningBackend,
    by_name,
    default_rules,
    plan_from_sources,
    rules_for,
)
from codetune.tuning.backends.base import TuningPlan
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import (
    DATASET_SOURCES,
    PARAMETERS,
    Problem,
    Scope,
    TuningParameters,
    resolve,
)
from codetune.tuning.sources import Source


class Admitted(msgspec.Struct, frozen=True):
    plan: TuningPlan
    backend: TuningBackend
    budget: budget.Admission  # call it with the tokens of the file the job reads
    parameters: TuningParameters  # every source's, resolved: what the plan was made from


def admit(
    version: DatasetRef,
    kind: DatasetKind,
    form: DatasetFormat,
    examples: int,
    tokens: Tokens | None,
    sources: list[Source],
    problems: list[Problem],
    allowed_models: tuple[str, ...],
    state_bucket: str | None,
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
    return Admitted(plan, backend, budget.Admission(tokens, plan.derived, limits, examples), limits)


class Checked(msgspec.Struct, frozen=True):
    errors: list[Finding]  # rule `tuning`
    not_checked: list[str]  # deployment parameters unset here: their rules wait for them


def report_problems(
    version: DatasetRef,
    report: ValidationReport,
    sources: list[Source],
    problems: list[Problem],
    allowed_models: tuple[str, ...],
    state_bucket: str | None,
    evaluation_examples: int | None = None,
    away: bool = False,
) -> Checked:
    """What tune would refuse of a training dataset before any job, as its report's errors
    (rule `tuning`, each message led by tune's own rule). The validate function and `codetune
    validate` both add these; to an invalid dataset, only its parameters' problems. The budget
    is held to the most the job can train on: the dataset with the default_context in force
    given to every example. `away` from a deployment (the command line), a deployment setting
    no source sets is not required: it is reported as not checked instead."""
    if not report.valid or report.kind is None:
        # Its examples are still to be fixed: only what the parameters themselves break.
        _, parsed = resolve(sources)
        return Checked([_finding(p) for p in [*problems, *parsed]], [])
    tokens = report.stats.get("tokens")
    found: list[Problem] = []
    try:
        admitted = admit(
            version,
            report.kind,
            DatasetFormat(report.format),
            report.examples,
            Tokens.of(tokens),
            sources,
            problems,
            allowed_models,
            state_bucket,
        )
        admitted.budget(None)
        if evaluation_examples is not None:
            evaluation_share(admitted.plan.base_model, evaluation_examples, report.examples)
    except PlanRejected as rejected:
        found = rejected.problems
    unset = _unset_deployment(sources) if away else frozenset()
    waiting = [p for p in found if p.rule == "required" and p.parameter in unset]
    return Checked(
        [_finding(p) for p in found if p not in waiting], sorted({p.parameter for p in waiting})
    )


def evaluation_share(base_model: str, evaluation: int, training: int) -> None:
    """The model's share of evaluation to training examples (Gemini: at most 30% past 1,000
    evaluation examples), which only the pair can tell."""
    rules = rules_for(base_model) or default_rules()
    if rules.evaluation_share is None:
        return
    start, share = rules.evaluation_share
    if evaluation > start and evaluation > share * training:
        raise PlanRejected(
            [
                Problem(
                    "evaluation_data_uri",
                    str(rules.evaluation_rule),
                    f"{evaluation:,} evaluation examples for {training:,} training examples: "
                    f"past {start:,}, {base_model} takes at most {share:.0%} of the training "
                    f"examples ({int(share * training):,})",
                )
            ]
        )


def _unset_deployment(sources: list[Source]) -> frozenset[str]:
    given = {n for origin, values in sources if origin not in DATASET_SOURCES for n in values}
    return frozenset(p.name for p in PARAMETERS if p.scope is Scope.DEPLOYMENT) - given


def _finding(problem: Problem) -> Finding:
    return Finding(
        Rule.TUNING, f"{problem.rule}: {problem.message}", None, f"parameters.{problem.parameter}"
    )
