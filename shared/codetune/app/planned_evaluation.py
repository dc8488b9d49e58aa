"""The evaluation tune plans with a Gemini job (docs/evaluation.md): its examples counted on
the evaluation dataset's pinned copy, and its cost held to the budget with the training's."""

from __future__ import annotations

from collections.abc import Callable

from codetune.app.admission import Admitted
from codetune.config import Settings
from codetune.dataset import DatasetFormat, DatasetKind
from codetune.evaluation.plan import EvaluationPlan
from codetune.evaluation.planner import counted, plan_evaluation
from codetune.exceptions import InputError, PlanRejected
from codetune.ports import ObjectStore
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import GEMINI, Problem


def planned_evaluation(
    admitted: Admitted,
    evaluation: DatasetRef | None,
    form: DatasetFormat,
    available: int,
    kind: DatasetKind,
    settings: Settings,
    storage: ObjectStore,
    count: Callable[[str], int] | None = None,
) -> EvaluationPlan | None:
    """The evaluation of a Gemini job with a validated evaluation dataset (`evaluation`, its
    pinned copy), when the deployment evaluates and the dataset asks for more than 0 examples;
    its cost counted by the budget (PlanRejected when over). None: nothing is evaluated."""
    plan = admitted.plan
    source = plan.evaluation_source
    if evaluation is None or source is None or admitted.backend.name != GEMINI:
        return None
    if not settings.evaluation:
        return None
    planned = plan_evaluation(
        admitted.parameters, source, evaluation, form, kind, available,
        settings.evaluation_max_examples, plan.derived.default_context,
    )  # fmt: skip
    if planned is None:
        return None
    try:
        with storage.open_dataset(
            evaluation.bucket, evaluation.name, evaluation.generation
        ) as stream:
            planned, found = counted(planned, stream, plan.base_model, admitted.parameters, count)
    except InputError as broken:
        raise PlanRejected([Problem("evaluation_data_uri", "pinned", str(broken))]) from None
    if planned.examples < 1:
        return None
    admitted.budget.evaluate(found)
    return planned
