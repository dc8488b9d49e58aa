"""The evaluation after a succeeded job (docs/evaluation.md): status sends a version with an
evaluation planned to EVALUATING and asks the evaluate function; evaluate answers every planned
example once on each model (a rerun asks only for what is missing), scores them, records the
verdict, ends the version SUCCEEDED and announces it with the verdict; whatever goes wrong, the
version still ends, saying why, and the sweep asks again for an evaluation whose request or
delivery was lost."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest

from codetune.app.evaluate import Evaluated, EvaluationIncomplete, evaluate
from codetune.app.finished import Announcer
from codetune.app.reconcile import reconcile
from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.config import Settings
from codetune.evaluation.plan import Evaluation, EvaluationPlan, EvaluationState
from codetune.exceptions import PermanentVertexError, RetryableVertexError
from codetune.logs import Logger
from codetune.messages import EVALUATE_TYPE, EvaluationRequested
from codetune.runs import row
from codetune.state import Record, RecordStore, Stage
from codetune.state.records import describe
from tests.support import dataset, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import BUCKET, ENVIRON, LOG, validated

PROJECT, REGION = "acme-ml", "us-central1"
SETTINGS = Settings(project=PROJECT, bucket=BUCKET, regions=(REGION,), evaluation_concurrency=2)
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/55"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/9@1"


class Example(msgspec.Struct, frozen=True):
    line: int
    contents: list[dict[str, Any]]
    system_instruction: dict[str, Any] | None
    reference: str

    def prompt(self) -> dict[str, Any]:
        return {"contents": self.contents}


def examples(count: int) -> list[Example]:
    return [
        Example(
            line,
            [{"role": "user", "parts": [{"text": f"write function number {line}"}]}],
            None,
            f"def f{line}(x):\n    return x + {line}\n",
        )
        for line in range(1, count + 1)
    ]


class Models:
    """generateContent by model name: the tuned endpoint answers the reference on the lines in
    `good`, the base model a wrong function; `fail` decides a fault for a request."""

    def __init__(self, sent: Sequence[Example], good: set[int]) -> None:
        self.by_prompt = {e.contents[0]["parts"][0]["text"]: e for e in sent}
        self.good = good
        self.worse = False
        self.asked: list[tuple[str, int]] = []
        self.fail: Any = lambda model, line: None
        self.lock = threading.Lock()

    def generate_content(
        self, model: str, request: dict[str, Any], max_attempts: int | None = None
    ) -> dict[str, Any]:
        example = self.by_prompt[request["contents"][0]["parts"][0]["text"]]
        assert request["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 1024}
        self.fail(model, example.line)
        with self.lock:
            self.asked.append((model, example.line))
        tuned = model == ENDPOINT
        text = example.reference if tuned and example.line in self.good else "print('hello')\n"
        if self.worse:
            text = "" if tuned else example.reference
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 9},
        }


def plan(count: int) -> EvaluationPlan:
    return EvaluationPlan(
        dataset=f"gs://{BUCKET}/incoming/e.eval.jsonl",
        pinned=f"gs://{SETTINGS.state}/_codetune/pinned/incoming/e.eval.jsonl/1.jsonl",
        format="gemini",
        examples=count,
        available=count,
    )


class Chain:
    """A Gemini job tuned with an evaluation planned, on the in-memory fakes."""

    def __init__(self, count: int = 6, settings: Settings = SETTINGS) -> None:
        self.storage, self.publisher, self.vertex = MemoryStorage(), MemoryPublisher(), FakeVertex()
        self.settings = settings
        self.store = RecordStore.of(self.storage, settings)
        self.message = validated(self.storage, "incoming/t.jsonl", dataset(generation_dataset(12)))
        environ = dict(ENVIRON)
        tuned = tune_dataset(self.message, self.storage, self.vertex, settings, environ, LOG)
        assert tuned is Tuning.SUBMITTED
        [self.job] = self.vertex.jobs
        self.examples = examples(count)
        self.models = Models(self.examples, good=set(range(1, count + 1)))
        self.update(lambda r: msgspec.structs.replace(r, evaluation=Evaluation(plan=plan(count))))

    def update(self, change: Any) -> None:
        self.store.update(self.message.name, self.message.generation, change)

    @property
    def record(self) -> Record:
        found = self.store.record(self.message.name, self.message.generation)
        assert found is not None
        return found

    def succeed(self, endpoint: str | None = ENDPOINT) -> None:
        tuned = {"model": MODEL, **({"endpoint": endpoint} if endpoint else {})}
        self.vertex.finish(self.job, "JOB_STATE_SUCCEEDED", tunedModel=tuned)
        sweep(self.store, self.vertex, LOG, Announcer(self.publisher, self.settings))

    def requests(self) -> list[EvaluationRequested]:
        return [
            EvaluationRequested.decode(data, attributes)
            for _, data, attributes in self.publisher.messages
            if attributes.get("type") == EVALUATE_TYPE
        ]

    def finished(self) -> list[dict[str, Any]]:
        return [
            orjson.loads(data)
            for topic, data, _ in self.publisher.messages
            if topic == self.settings.finished_topic_path
        ]

    def evaluate(self, clock: Any = None, log: Logger = LOG, **kwargs: Any) -> Evaluated:
        [request] = self.requests()[-1:]
        return evaluate(
            request,
            self.store,
            self.models,
            self.settings,
            log,
            Announcer(self.publisher, self.settings),
            read_examples=lambda store, planned: self.examples[: planned.examples],
            **({"clock": clock} if clock else {}),
            **kwargs,
        )


# --- status: a succeeded job with an evaluation planned --------------------------------------
def test_a_succeeded_job_with_an_evaluation_planned_is_evaluated_before_it_ends() -> None:
    chain = Chain()
    chain.succeed()
    record = chain.record
    assert record.state is Stage.EVALUATING and record.tuned_model is not None
    assert record.evaluation is not None and record.evaluation.state is EvaluationState.REQUESTED
    [request] = chain.requests()
    assert (request.name, request.generation) == (chain.message.name, chain.message.generation)
    assert chain.publisher.messages[-1][0] == SETTINGS.evaluation_topic_path
    assert chain.finished() == []  # not at an end yet: the verdict comes with the end
    assert "evaluating (0 of 6 answered)" in (row(record).evaluation or "")
    chain.succeed()  # the sweep again: the job is closed, nothing asked twice
    assert len(chain.requests()) == 1 and chain.record.state is Stage.EVALUATING


def test_without_an_evaluation_planned_a_job_ends_as_before() -> None:
    chain = Chain()
    chain.update(lambda r: msgspec.structs.replace(r, evaluation=None))
    chain.succeed()
    assert chain.record.state is Stage.SUCCEEDED and chain.requests() == []
    [end] = chain.finished()
    assert end["stage"] == "SUCCEEDED" and end["evaluation"] is None


def test_a_job_with_no_endpoint_ends_saying_it_could_not_be_evaluated() -> None:
    chain = Chain()
    chain.succeed(endpoint=None)
    record = chain.record
    assert record.state is Stage.SUCCEEDED and chain.requests() == []
    assert record.evaluation is not None and record.evaluation.state is EvaluationState.FAILED
    assert "no endpoint" in (record.evaluation.note or "")
    [end] = chain.finished()
    assert end["evaluation"]["state"] == "failed"


# --- the sweep asks again for a lost evaluation ------------------------------------------------
def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_the_sweep_asks_again_for_an_evaluation_lost_or_abandoned() -> None:
    chain = Chain()
    chain.succeed()
    grace = SETTINGS.reconcile_grace_seconds

    def sweep_at(seconds: float) -> int:
        before = len(chain.requests())
        reconcile(chain.storage, chain.publisher, SETTINGS, LOG, {}, now=later(seconds))
        return len(chain.requests()) - before

    assert sweep_at(grace / 2) == 0  # its request may still be on its way
    assert sweep_at(grace + 5) == 1  # lost: asked again
    lease = (datetime.now(UTC) + timedelta(seconds=900)).isoformat()
    chain.update(
        lambda r: msgspec.structs.replace(
            r,
            evaluation=msgspec.structs.replace(
                r.evaluation, state=EvaluationState.RUNNING, lease=lease
            ),
        )
    )
    assert sweep_at(grace + 5) == 0  # a delivery holds it
    assert sweep_at(1000) == 1  # its lease ran out: that delivery died


# --- evaluate: every example once on each model, the verdict, the end -------------------------
def evaluating(count: int = 6, settings: Settings = SETTINGS) -> Chain:
    chain = Chain(count, settings)
    chain.succeed()
    return chain


def test_each_example_is_answered_once_by_each_model_and_the_verdict_ends_the_version() -> None:
    chain = evaluating()
    assert chain.evaluate() is Evaluated.DONE
    asked = sorted(chain.models.asked)
    assert asked == sorted(
        (m, e.line) for m in (ENDPOINT, base_model(chain)) for e in chain.examples
    )
    record = chain.record
    assert record.state is Stage.SUCCEEDED and record.history[-1].by == "evaluate"
    evaluation = record.evaluation
    assert evaluation is not None and evaluation.verdict is not None
    assert evaluation.state is EvaluationState.DONE and evaluation.answered == 6
    chrf = next(m for m in evaluation.verdict.metrics if m.metric == "chrf")
    assert chrf.tuned == 100 and chrf.base is not None and chrf.base < 30 and chrf.better == 6
    assert evaluation.tuned_usage is not None and evaluation.tuned_usage.output_tokens == 6 * 9
    [end] = chain.finished()
    assert end["stage"] == "SUCCEEDED" and end["evaluation"]["state"] == "done"
    assert {m["metric"] for m in end["evaluation"]["metrics"]} >= {"chrf", "exact_match"}
    shown = "\n".join(describe(record))
    assert "evaluation on 6 examples (tuned against base):" in shown and "chrF" in shown
    # A repeat of the request: nothing to do, nothing asked, nothing announced again.
    assert chain.evaluate() is Evaluated.NOTHING
    assert len(chain.models.asked) == 12 and len(chain.finished()) == 1


def base_model(chain: Chain) -> str:
    record = chain.record
    return f"projects/{PROJECT}/locations/{REGION}/publishers/google/models/{record.base_model}"


def test_out_of_time_the_answers_so_far_are_kept_and_only_the_rest_is_asked_next() -> None:
    chain = evaluating()
    ticks = iter(range(10_000))
    # Time for 5 requests: the deadline is read once at the start, then before each request.
    seconds = SETTINGS.evaluation_seconds / 5
    with pytest.raises(EvaluationIncomplete):
        chain.evaluate(clock=lambda: next(ticks) * seconds)
    first = list(chain.models.asked)
    assert 0 < len(first) < 12
    record = chain.record
    assert record.state is Stage.EVALUATING and record.evaluation is not None
    assert record.evaluation.state is EvaluationState.REQUESTED and record.evaluation.lease is None
    assert chain.evaluate() is Evaluated.DONE
    assert sorted(chain.models.asked) == sorted(set(chain.models.asked))  # none asked twice
    assert len(chain.models.asked) == 12


def test_throttling_past_the_retries_keeps_the_answers_and_the_message_comes_again() -> None:
    chain = evaluating()
    throttle = {"left": 3}

    def fail(model: str, line: int) -> None:
        if model == ENDPOINT and line >= 4 and throttle["left"]:
            throttle["left"] -= 1
            raise RetryableVertexError("POST: 429 RESOURCE_EXHAUSTED (after 5 attempts)", 429)

    chain.models.fail = fail
    with pytest.raises(EvaluationIncomplete):
        chain.evaluate()
    answered = chain.store.answered(chain.message.name, chain.message.generation)
    assert answered and len(answered) < 12
    chain.models.fail = lambda model, line: None
    assert chain.evaluate() is Evaluated.DONE
    assert len(chain.models.asked) == len(set(chain.models.asked)) == 12


def test_a_delivery_holding_the_evaluation_keeps_others_out() -> None:
    chain = evaluating()
    lease = (datetime.now(UTC) + timedelta(seconds=600)).isoformat()
    chain.update(
        lambda r: msgspec.structs.replace(
            r,
            evaluation=msgspec.structs.replace(
                r.evaluation, state=EvaluationState.RUNNING, lease=lease
            ),
        )
    )
    assert chain.evaluate() is Evaluated.HELD and chain.models.asked == []


def test_after_its_last_attempt_the_version_ends_without_a_verdict() -> None:
    chain = evaluating()
    chain.update(
        lambda r: msgspec.structs.replace(
            r, evaluation=msgspec.structs.replace(r.evaluation, attempts=5)
        )
    )
    assert chain.evaluate() is Evaluated.FAILED
    record = chain.record
    assert record.state is Stage.SUCCEEDED and record.evaluation is not None
    assert record.evaluation.state is EvaluationState.FAILED
    assert "not finished in 5 deliveries" in (record.evaluation.note or "")
    assert chain.models.asked == [] and len(chain.finished()) == 1


def test_turned_off_after_it_was_planned_the_version_ends_saying_so() -> None:
    chain = evaluating(settings=msgspec.structs.replace(SETTINGS, evaluation=False))
    assert chain.evaluate() is Evaluated.OFF
    record = chain.record
    assert record.state is Stage.SUCCEEDED and record.evaluation is not None
    assert record.evaluation.state is EvaluationState.OFF and chain.models.asked == []


def test_an_endpoint_of_another_project_is_never_asked() -> None:
    chain = evaluating()
    foreign = "projects/evil/locations/us-central1/endpoints/1"
    chain.update(
        lambda r: msgspec.structs.replace(
            r, tuned_model=msgspec.structs.replace(r.tuned_model, endpoint=foreign)
        )
    )
    assert chain.evaluate() is Evaluated.FAILED
    assert all(model != foreign for model, _ in chain.models.asked)
    record = chain.record
    assert record.state is Stage.SUCCEEDED and "evil" in (record.evaluation.note or "")  # type: ignore[union-attr]


def test_a_model_vertex_ai_will_not_serve_ends_the_evaluation_one_bad_example_does_not() -> None:
    chain = evaluating()

    def fail(model: str, line: int) -> None:
        if line == 2:
            raise PermanentVertexError("POST: 400 the prompt is too long", 400, "INVALID_ARGUMENT")

    chain.models.fail = fail
    assert chain.evaluate() is Evaluated.DONE
    stored = chain.store.answer(chain.message.name, chain.message.generation, "tuned", 2)
    assert stored is not None and stored.text == "" and stored.finish_reason == "refused: 400"
    again = evaluating()

    def gone(model: str, line: int) -> None:
        if model == ENDPOINT:
            raise PermanentVertexError("POST: 404 endpoint not found", 404, "NOT_FOUND")

    again.models.fail = gone
    assert again.evaluate() is Evaluated.FAILED
    assert again.record.state is Stage.SUCCEEDED and "404" in (again.record.evaluation.note or "")  # type: ignore[union-attr]


def test_a_tuned_model_worse_than_its_base_is_flagged() -> None:
    chain = evaluating(count=12)
    chain.models.worse = True  # the base model answers right, the tuned one nothing
    assert chain.evaluate() is Evaluated.DONE
    record = chain.record
    assert record.evaluation is not None and "chrf" in record.evaluation.worse
    assert any("worse than its base model" in w for w in record.warnings or [])
    assert "WORSE" in (row(record).evaluation or "")
    [end] = chain.finished()
    assert "chrf" in end["evaluation"]["worse"]


def test_a_request_for_another_bucket_is_dropped() -> None:
    chain = evaluating()
    [request] = chain.requests()
    other = msgspec.structs.replace(request, bucket="elsewhere")
    got = evaluate(
        other, chain.store, chain.models, SETTINGS, LOG, None, lambda s, p: chain.examples
    )
    assert got is Evaluated.NOTHING and chain.models.asked == []


def test_status_shows_the_evaluation_planned_then_its_progress() -> None:
    chain = Chain()
    shown = "\n".join(describe(chain.record))
    assert "evaluation planned: 6 of 6 examples on both models" in shown
    chain.succeed()
    assert "evaluation: evaluating (0 of 6 answered)" in "\n".join(describe(chain.record))
