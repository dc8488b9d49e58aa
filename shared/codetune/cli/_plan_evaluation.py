"""`codetune plan`'s evaluation line: what the evaluation after a Gemini job would send and
cost, counted on a local copy of the evaluation dataset (`--eval FILE`) as tune counts its
pinned copy, and held to the budget with the training."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from codetune.app.admission import Admitted
from codetune.cli._common import regular_file
from codetune.config import Settings
from codetune.dataset import DatasetFormat, DatasetKind
from codetune.dataset.lines import read_lines
from codetune.dataset.rules import MAX_LINE_BYTES
from codetune.dataset.tokens import deployment_tokenizer
from codetune.evaluation.planner import counted, plan_evaluation
from codetune.exceptions import InputError, PlanRejected
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import GEMINI, Problem


class Unreadable(Exception):
    """The evaluation file, or a deployment setting, cannot be read: said, with exit status 2."""


class Shown(msgspec.Struct, frozen=True):
    """The evaluation as `codetune plan` prints it: a line, and its JSON."""

    line: str
    document: dict[str, Any]


def shown_evaluation(
    admitted: Admitted,
    path: str | None,
    form: DatasetFormat,
    kind: DatasetKind,
    environ: Mapping[str, str],
) -> Shown | None:
    """None for a job with no evaluation dataset or not a Gemini job. Unreadable: the file or
    a deployment setting cannot be read; PlanRejected: over the budget."""
    plan, p = admitted.plan, admitted.parameters
    source = plan.evaluation_source
    if source is None or admitted.backend.name != GEMINI:
        if path is not None:
            raise Unreadable(
                "--eval needs a Gemini job with an evaluation dataset (the manifest's "
                "`evaluation`, or --set evaluation_data_uri=gs://...)"
            )
        return None
    try:
        settings = Settings.from_environment(environ)
    except ValueError as fault:
        raise Unreadable(str(fault)) from None
    cap = settings.evaluation_max_examples if settings.evaluation else 0
    why = _none(settings, p.evaluation_examples)
    if why is not None:
        return Shown(f"evaluation: none, {why}", {"examples": 0, "note": why})
    if path is None:
        most = cap if p.evaluation_examples is None else min(cap, p.evaluation_examples)
        note = (
            f"up to {most:,} examples of {source} after the job; give --eval FILE to count "
            "its tokens and cost"
        )
        return Shown(f"evaluation: {note}", {"examples_at_most": most, "note": note})
    problem = regular_file(path)
    if problem is not None:
        raise Unreadable(problem)
    planned = plan_evaluation(
        p, source, DatasetRef(path), form, kind, _examples(path), cap, plan.derived.default_context
    )
    if planned is None:
        return Shown("evaluation: none, the file has no examples", {"examples": 0})
    tokenizer = deployment_tokenizer(settings.tokenizer_model)
    try:
        with Path(path).open("rb") as stream:
            planned, cost = counted(
                planned, stream, plan.base_model, p, tokenizer.count if tokenizer else None
            )
    except InputError as broken:
        raise PlanRejected([Problem("evaluation_data_uri", "format", str(broken))]) from None
    admitted.budget.evaluate(cost)
    return Shown(
        cost.describe(),
        {
            "plan": msgspec.structs.asdict(planned),  # defaults too: what is sent
            "cost": {
                **msgspec.to_builtins(cost),
                "tokens": cost.tokens,
                "estimated_cost_usd": cost.cost,
            },
            "describe": cost.describe(),
        },
    )


def _none(settings: Settings, asked: int | None) -> str | None:
    """Why nothing would be evaluated, if nothing would."""
    if not settings.evaluation:
        return "the deployment does not evaluate (CODETUNE_EVALUATION=off)"
    if settings.evaluation_max_examples == 0:
        return "the deployment allows no examples (CODETUNE_EVALUATION_MAX_EXAMPLES=0)"
    if asked == 0:
        return "the dataset asks for none (evaluation_examples=0)"
    return None


def _examples(path: str) -> int:
    """The file's examples: its lines that are not blank."""
    with Path(path).open("rb") as stream:
        return sum(
            1
            for _, line in read_lines(stream, MAX_LINE_BYTES)
            if line is None or bytes(line).strip()
        )
