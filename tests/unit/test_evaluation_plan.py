"""tune plans the evaluation after a Gemini job (codetune.evaluation.planner, with in-memory
collaborators): the first examples of the evaluation dataset's pinned copy, capped by the
deployment and the dataset, counted as read_examples reads them and never below the training
estimate's method, its cost held to the budget with the training's."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from codetune.app.tune import Tuning, tune_dataset
from codetune.config import Settings
from codetune.dataset.rules import estimate_tokens, token_weight
from codetune.evaluation.examples import read_examples
from codetune.evaluation.plan import DEFAULT_MAX_OUTPUT_TOKENS, EvaluationPlan
from codetune.evaluation.planner import prompt_tokens
from codetune.messages import DatasetValidated
from codetune.state import Record, Stage
from tests.support import dataset, generation, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryStorage
from tests.unit.test_app import BUCKET, ENVIRON, LOG, SETTINGS, store, validated

# Evaluation prompts of very different lengths, so that any other choice of examples than the
# first ones would count other tokens.
EVALUATION = [
    generation(900 + i, input_text="Write the code: " + "x" * (40 * i)) for i in range(12)
]
LEGACY_MODEL = {"large_model_reference": "code-bison@002"}
PRICED = {**ENVIRON, "CODETUNE_INFERENCE_PRICES": "gemini-3.5-flash=100/1000"}


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def paired(
    storage: MemoryStorage,
    name: str,
    evaluation: list[bytes] | None = None,
    settings: Settings = SETTINGS,
    **parameters: object,
) -> DatasetValidated:
    """A training dataset validated with its evaluation dataset and its manifest's parameters."""
    validated(storage, f"incoming/{name}.eval.jsonl", dataset(evaluation or EVALUATION))
    manifest = {"evaluation": f"{name}.eval.jsonl", "parameters": parameters}
    storage.put(BUCKET, f"incoming/{name}.tuning.json", orjson.dumps(manifest))
    return validated(storage, f"incoming/{name}.jsonl", dataset(generation_dataset(30)))


def tuned(
    storage: MemoryStorage,
    message: DatasetValidated,
    settings: Settings = SETTINGS,
    environ: dict[str, str] = ENVIRON,
    expected: Tuning = Tuning.SUBMITTED,
) -> Record:
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, settings, environ, LOG) is expected
    record = store(storage).record(message.name, message.generation)
    assert record is not None
    return record


def planned(record: Record) -> EvaluationPlan:
    assert record.state is Stage.SUBMITTED and record.evaluation is not None
    return record.evaluation.plan


def capped(cap: int) -> Settings:
    return msgspec.structs.replace(SETTINGS, evaluation_max_examples=cap)


def test_the_plan_is_the_evaluation_datasets_pinned_copy_and_its_settings(
    storage: MemoryStorage,
) -> None:
    message = paired(
        storage,
        "p",
        evaluation_max_output_tokens=512,
        evaluation_temperature=0.4,
        language="py",
        default_context="Answer in Python.",
    )
    records = store(storage)
    [name] = [n for n in storage.list_names(BUCKET, "incoming/") if n == "incoming/p.eval.jsonl"]
    live = storage.current(BUCKET, name)
    assert live is not None
    evaluation_record = records.record(name, live.generation)
    assert evaluation_record is not None
    plan = planned(tuned(storage, message))
    assert plan.dataset == f"gs://{BUCKET}/incoming/p.eval.jsonl"
    # The copy validate pinned, at its generation: the one the job's validation copy comes from.
    assert plan.pinned == records.pinned_uri(name, live.generation)
    assert plan.generation == evaluation_record.pinned is not None
    assert (plan.format, plan.kind, plan.available) == ("seed", "generation", 12)
    assert (plan.temperature, plan.max_output_tokens, plan.language) == (0.4, 512, "python")
    assert plan.default_context == "Answer in Python."


def test_the_defaults_are_deterministic_answers_at_the_default_allowance(
    storage: MemoryStorage,
) -> None:
    plan = planned(tuned(storage, paired(storage, "d")))
    assert (plan.examples, plan.temperature, plan.max_output_tokens, plan.language) == (
        12,
        0.0,
        DEFAULT_MAX_OUTPUT_TOKENS,
        None,
    )


@pytest.mark.parametrize(
    ("cap", "asked", "sent"),
    [
        (200, None, 12),  # all there are
        (5, None, 5),  # the deployment's cap
        (200, 3, 3),  # the dataset's ask
        (5, 8, 5),  # the dataset may not ask past the deployment
        (4, 3, 3),
    ],
)
def test_the_examples_sent_are_capped_by_the_deployment_and_the_dataset(
    storage: MemoryStorage, cap: int, asked: int | None, sent: int
) -> None:
    ask = {} if asked is None else {"evaluation_examples": asked}
    plan = planned(tuned(storage, paired(storage, "c", **ask), capped(cap)))
    assert (plan.examples, plan.available) == (sent, 12)


@pytest.mark.parametrize(
    ("settings", "ask"),
    [
        (SETTINGS, {"evaluation_examples": 0}),  # the dataset asks for none
        (capped(0), {}),  # the deployment allows none
        (msgspec.structs.replace(SETTINGS, evaluation=False), {}),  # CODETUNE_EVALUATION=off
    ],
)
def test_no_evaluation_is_planned_when_the_dataset_or_the_deployment_says_none(
    storage: MemoryStorage, settings: Settings, ask: dict[str, int]
) -> None:
    record = tuned(storage, paired(storage, "o", **ask), settings)
    assert record.state is Stage.SUBMITTED and record.evaluation is None  # the job goes ahead


def test_no_evaluation_dataset_or_the_legacy_pipeline_plans_none(storage: MemoryStorage) -> None:
    alone = validated(storage, "incoming/alone.jsonl", dataset(generation_dataset(30)))
    assert tuned(storage, alone).evaluation is None
    # Paired by its manifest with a code-bison dataset, the evaluation dataset is validated for it.
    manifest = {"evaluation": "lg.eval.jsonl", "parameters": {"train_steps": 10, **LEGACY_MODEL}}
    storage.put(BUCKET, "incoming/lg.tuning.json", orjson.dumps(manifest))
    validated(storage, "incoming/lg.eval.jsonl", dataset(EVALUATION))
    legacy = validated(storage, "incoming/lg.jsonl", dataset(generation_dataset(30)))
    record = tuned(storage, legacy)
    assert record.backend == "pipeline" and record.evaluation is None


def test_the_plans_examples_are_exactly_those_read_examples_yields(
    storage: MemoryStorage,
) -> None:
    """What the evaluate function will read (the pinned copy at the plan's generation, through
    read_examples) is what tune counted: the same examples, the same tokens."""
    plan = planned(tuned(storage, paired(storage, "r", evaluation_examples=5)))
    bucket, _, name = plan.pinned.removeprefix("gs://").partition("/")
    with storage.open_dataset(bucket, name, plan.generation) as stream:
        examples = list(read_examples(stream, plan))
    assert [e.line for e in examples] == [1, 2, 3, 4, 5]
    assert [e.reference for e in examples] == [
        orjson.loads(line)["output_text"] for line in EVALUATION[:5]
    ]
    prompts = sum(prompt_tokens(e) for e in examples)
    assert plan.estimated_tokens == 2 * (prompts + 5 * DEFAULT_MAX_OUTPUT_TOKENS)


def test_the_prompt_tokens_are_never_below_the_training_estimates_method(
    storage: MemoryStorage,
) -> None:
    """Text that characters / 4 undercounts (CJK, emoji), and a default_context given to every
    prompt: each prompt counts at least what the training estimate counts of it."""
    texts = ["代码风格" * 30, "🙂" * 50, "def f(): pass " * 20]
    evaluation = [generation(950 + i, input_text=text) for i, text in enumerate(texts)]
    context = "Our house style:" + " ünïcode" * 40
    message = paired(storage, "t", evaluation, default_context=context)
    plan = planned(tuned(storage, message))
    training_method = sum(estimate_tokens(token_weight(context) + token_weight(t)) for t in texts)
    counted_input = plan.estimated_tokens // 2 - plan.examples * plan.max_output_tokens
    assert counted_input >= training_method
    assert counted_input >= sum(len(t.encode()) for t in texts[:2])  # a token a byte


def test_a_tokenizer_that_counts_more_than_the_estimate_is_what_counts(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codetune.app.tune as tune_module

    class Characters:
        method, exact = "characters", True

        def count(self, text: str) -> int:
            return len(text)  # four times the estimate of ASCII text

    class Nothing:
        method, exact = "nothing", True

        def count(self, text: str) -> int:
            return 0  # fewer than the estimate: the estimate stands

    settings = msgspec.structs.replace(SETTINGS, tokenizer_model="a.model")
    prompts = [orjson.loads(line)["input_text"] for line in EVALUATION]
    for name, tokenizer, expected in (
        ("k", Characters(), sum(len(p) for p in prompts)),
        ("n", Nothing(), sum(estimate_tokens(token_weight(p)) for p in prompts)),
    ):
        monkeypatch.setattr(tune_module, "deployment_tokenizer", lambda model, t=tokenizer: t)
        plan = planned(tuned(storage, paired(storage, name), settings))
        counted_input = plan.estimated_tokens // 2 - plan.examples * plan.max_output_tokens
        assert counted_input == expected, name


def test_the_budget_counts_the_evaluations_cost_with_the_trainings(
    storage: MemoryStorage,
) -> None:
    """12 answers of 1,024 tokens at $1,000 per 1M output tokens: $12.29 on the base model and
    1.5 times that on the tuned endpoint; the training itself costs about a cent."""
    environ = {**PRICED, "CODETUNE_EPOCH_COUNT": "1", "CODETUNE_MAX_COST": "20"}
    over = tuned(storage, paired(storage, "b"), environ=environ, expected=Tuning.REJECTED)
    assert over.error is not None
    [problem] = over.error.problems
    assert (problem.parameter, problem.rule) == ("max_cost", "budget")
    assert "evaluation: 12 examples x 2 models" in problem.message
    assert "over the deployment's $20.00" in problem.message
    # The same dataset asking for 5 examples fits; so do 12 under a larger budget.
    fewer = planned(tuned(storage, paired(storage, "f", evaluation_examples=5), environ=environ))
    assert fewer.estimated_cost_usd is not None and fewer.estimated_cost_usd < 20
    roomy = {**environ, "CODETUNE_MAX_COST": "40"}
    plan = planned(tuned(storage, paired(storage, "g"), environ=roomy))
    assert plan.estimated_cost_usd is not None and 30 < plan.estimated_cost_usd < 40


def test_an_unknown_inference_price_is_refused_by_a_cost_budget_and_said_without_one(
    storage: MemoryStorage,
) -> None:
    environ = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "1", "CODETUNE_MAX_COST": "1000"}
    refused = tuned(storage, paired(storage, "u"), environ=environ, expected=Tuning.REJECTED)
    assert refused.error is not None
    [problem] = refused.error.problems
    assert (problem.parameter, problem.rule) == ("max_cost", "budget")
    assert "cost unknown: no inference price for gemini-3.5-flash" in problem.message
    assert "CODETUNE_INFERENCE_PRICES" in problem.message
    # Without a cost budget the evaluation is planned, its tokens counted and its cost unknown.
    plan = planned(tuned(storage, paired(storage, "v"), environ={**ENVIRON}))
    assert plan.estimated_cost_usd is None and plan.estimated_tokens
