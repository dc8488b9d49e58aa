"""What tune plans of the evaluation after a Gemini job: which examples are sent, with which
generation settings, and what answering them on both models is estimated to cost.

Examples sent = min(the examples the evaluation dataset has, the dataset's
`evaluation_examples`, the deployment's CODETUNE_EVALUATION_MAX_EXAMPLES): its first ones, in
file order (codetune.evaluation.examples). None are sent when any of the three is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import msgspec

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.dataset.lines import ByteStream
from codetune.evaluation import cost
from codetune.evaluation.examples import EvaluationExample, read_examples
from codetune.evaluation.plan import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    DEFAULT_TEMPERATURE,
    EvaluationPlan,
)
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import TuningParameters


def plan_evaluation(
    p: TuningParameters,
    dataset: str,
    pinned: DatasetRef,
    format: DatasetFormat,
    kind: DatasetKind,
    available: int,
    cap: int,
    default_context: str | None = None,
) -> EvaluationPlan | None:
    """The evaluation of `dataset` (its upload; `pinned`, the validated copy the job reads),
    before its examples are counted; None when none is to be sent."""
    asked = cap if p.evaluation_examples is None else min(p.evaluation_examples, cap)
    examples = min(available, asked)
    if examples < 1:
        return None
    return EvaluationPlan(
        dataset=dataset,
        pinned=pinned.uri,
        format=str(format),
        examples=examples,
        available=available,
        generation=pinned.generation,
        temperature=(
            DEFAULT_TEMPERATURE if p.evaluation_temperature is None else p.evaluation_temperature
        ),
        max_output_tokens=p.evaluation_max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
        language=p.language,
        kind=str(kind),
        default_context=default_context,
    )


def prompt_tokens(example: EvaluationExample, count: Callable[[str], int] | None = None) -> int:
    """An example's prompt tokens, never fewer than the estimate the training budget uses
    (codetune.evaluation.cost.prompt_tokens, part by part), nor than the deployment's
    tokenizer counts."""
    texts = example.prompt_texts()
    if count is None:
        return cost.prompt_tokens(texts)
    return sum(max(cost.prompt_tokens([text]), count(text)) for text in texts)


def counted(
    plan: EvaluationPlan,
    stream: ByteStream,
    model: str,
    p: TuningParameters,
    count: Callable[[str], int] | None = None,
) -> tuple[EvaluationPlan, cost.EvaluationCost]:
    """The plan with its estimate, counted on the very examples the evaluation will send
    (read from `stream`, the pinned copy), and that estimate at the prices in force."""
    sent = 0

    def prompts() -> Iterator[int]:
        nonlocal sent
        for example in read_examples(stream, plan):
            sent += 1
            yield prompt_tokens(example, count)

    found = cost.estimate(
        model,
        prompts(),
        plan.max_output_tokens,
        cost.prices_in_force(p.inference_prices),
        p.tuned_inference_prices,
    )
    planned = msgspec.structs.replace(
        plan,
        examples=sent,
        estimated_tokens=found.tokens,
        estimated_cost_usd=found.cost,
    )
    return planned, found
