"""One planner shape: rules run in one place, every problem reported at once, the request built
only without any; and both backends plan with the shared rules, not copies of them."""

from __future__ import annotations

from types import ModuleType

import pytest

from codetune.dataset import DatasetKind
from codetune.exceptions import PlanRejected
from codetune.gemini import plan as gemini
from codetune.pipeline import plan as pipeline
from codetune.tuning import rules
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import Problem, TuningParameters

INPUTS = rules.PlanInputs(
    dataset=DatasetRef("gs://tuning-drop/a.jsonl", "1"),
    kind=DatasetKind.GENERATION,
    examples=10,
    parameters=TuningParameters(),
    state_bucket="tuning-drop-state",
    system_prefix="_codetune/",
)


def test_every_rule_runs_and_its_problems_come_in_the_list_order() -> None:
    def first(_: rules.PlanInputs) -> list[Problem]:
        return [Problem("a", "r1", "one"), Problem("b", "r1", "two")]

    def second(_: rules.PlanInputs) -> list[Problem]:
        return [Problem("c", "r2", "three")]

    def build(_: rules.PlanInputs) -> str:
        raise AssertionError("a plan with problems is never built")

    with pytest.raises(PlanRejected) as rejected:
        rules.plan(INPUTS, (first, lambda _: [], second), build)
    assert [p.message for p in rejected.value.problems] == ["one", "two", "three"]


def test_without_problems_the_plan_is_built() -> None:
    assert rules.plan(INPUTS, (lambda _: [],), lambda i: i.dataset.uri) == INPUTS.dataset.uri


@pytest.mark.parametrize("planner", [pipeline, gemini], ids=["pipeline", "gemini"])
def test_both_backends_check_with_the_shared_rules(planner: ModuleType) -> None:
    shared = {
        rules.dataset_and_project,
        rules.service_account,
        rules.learning_rate,
        rules.evaluation_uri,
        rules.kms_key,
    }
    assert shared <= set(planner.RULES)
