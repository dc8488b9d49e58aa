"""What an evaluation sends and what it found, as the record keeps them (docs/evaluation.md).

tune plans it (`EvaluationPlan`, when the job has an evaluation dataset and the deployment
evaluates); status moves a succeeded job's record to EVALUATING; the evaluate function answers
every planned example on both models, scores them and leaves `Evaluation` with its verdict.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from codetune.evaluation.metrics import BY_NAME
from codetune.evaluation.verdict import ExampleScores, Verdict

DEFAULT_MAX_OUTPUT_TOKENS = 1024  # each answer's allowance, unless the dataset sets one
DEFAULT_TEMPERATURE = 0.0  # deterministic, as far as the service is


class EvaluationPlan(msgspec.Struct, frozen=True, omit_defaults=True):
    """The evaluation tune planned with the job: the evaluation dataset's validated copy (the
    one the job read, never a training example), how many of its examples are sent, and the
    generation settings both models answer with."""

    dataset: str  # the evaluation upload, gs://bucket/name
    pinned: str  # its validated copy in the state bucket, gs://...
    format: str  # its examples' format (codetune.dataset.DatasetFormat)
    examples: int  # sent: its first examples, up to the per-dataset and deployment caps
    available: int  # it has
    generation: str | None = None  # the copy's generation: the only one read
    # How its examples become prompts, as the job's validation copy was converted: the
    # dataset's kind (codetune.dataset.DatasetKind) and the job's default_context, the system
    # instruction of an example without a context (codetune.evaluation.examples).
    kind: str = "generation"
    default_context: str | None = None
    temperature: float = DEFAULT_TEMPERATURE
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    language: str | None = None  # the code's language, where the fences do not say
    # What answering them on both models is estimated to cost (codetune.evaluation.cost).
    estimated_tokens: int | None = None
    estimated_cost_usd: float | None = None


class EvaluationState(StrEnum):
    PLANNED = "planned"  # the job has not ended yet
    REQUESTED = "requested"  # the job succeeded; the evaluate function was asked
    RUNNING = "running"  # a delivery answers the examples (its lease)
    DONE = "done"  # every example answered and scored: the verdict is in
    FAILED = "failed"  # it could not be done (the note says why); the tuned model stands
    OFF = "off"  # the deployment turned evaluation off after it was planned


class Usage(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the service counted (generateContent's usageMetadata), summed over one model's
    answers."""

    answers: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0  # candidates' (and thoughts') tokens


class Evaluation(msgspec.Struct, frozen=True, omit_defaults=True):
    """A version's evaluation: its plan, how far it got, and its verdict."""

    plan: EvaluationPlan
    state: EvaluationState = EvaluationState.PLANNED
    requested: str | None = None  # when the evaluate function was last asked
    attempts: int = 0  # deliveries that ran it
    lease: str | None = None  # until when a delivery holds it (ISO time)
    answered: int = 0  # examples both models have answered so far
    base_model: str | None = None  # the models answered, by resource name
    tuned_model: str | None = None
    base_usage: Usage | None = None
    tuned_usage: Usage | None = None
    verdict: Verdict | None = None
    worse: tuple[str, ...] = ()  # metrics on which the tuned model is worse beyond the interval
    page: str | None = None  # the evaluation page, gs://...
    note: str | None = None  # why it failed, or what it left out
    finished: str | None = None  # when the verdict was recorded

    def brief(self) -> str:
        """A few words for a table row: 'chrF 41.2 → 55.0, better on 31 of 40'."""
        if self.verdict is None:
            if self.state in (EvaluationState.FAILED, EvaluationState.OFF):
                return f"not evaluated ({self.note or self.state})"
            return f"evaluating ({self.answered} of {self.plan.examples} answered)"
        applies = [m for m in self.verdict.metrics if m.base is not None]
        lead = next((m for m in applies if m.metric == "chrf"), applies[0] if applies else None)
        text = (
            f"{BY_NAME[lead.metric].title} {lead.base:.3g} → {lead.tuned:.3g}, better on "
            f"{lead.better} of "
            f"{lead.examples}"
            if lead is not None and lead.tuned is not None and lead.base is not None
            else f"evaluated on {self.verdict.examples}"
        )
        return f"WORSE on {', '.join(self.worse)}; {text}" if self.worse else text

    def summary(self) -> str:
        """One line: 'evaluated on 40 examples: chrF 41.2 → 55.0 (+13.8 ...); ...'."""
        if self.verdict is None:
            return f"evaluation {self.state}" + (f": {self.note}" if self.note else "")
        head = f"evaluated on {self.verdict.examples} examples"
        if self.worse:
            head += f", WORSE than the base model on {', '.join(self.worse)}"
        return head + ": " + "; ".join(self.verdict.describe())


class Answer(msgspec.Struct, frozen=True, omit_defaults=True):
    """One model's answer to one evaluation example, as stored in the state bucket (never in
    the logs): a rerun reads it instead of asking again."""

    line: int  # the example's line in the evaluation dataset
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0


class ExampleResult(msgspec.Struct, frozen=True):
    """One evaluation example as the evaluation page shows it."""

    line: int
    prompt: str  # the prompt's turns, as text
    reference: str
    base: Answer
    tuned: Answer
    scores: ExampleScores
