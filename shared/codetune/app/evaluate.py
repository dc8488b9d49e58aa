"""evaluate: is the tuned model better than its base? Answer the planned evaluation examples on
both models, score the answers, record the verdict, and end the version (docs/evaluation.md).

One delivery at a time holds the evaluation (a lease in the record); each answer is stored in
the state bucket as it comes, so a delivery that runs out of time, or is throttled past its
retries, leaves what it got for the next one, which asks only for the rest. The version ends
SUCCEEDED in every case: an evaluation that cannot be done says why in the record, and the
tuned model stands.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from codetune.app.finished import Announcer
from codetune.config import Settings
from codetune.evaluation.plan import (
    Answer,
    Evaluation,
    EvaluationPlan,
    EvaluationState,
    ExampleResult,
    Usage,
)
from codetune.exceptions import (
    CodetuneError,
    ForeignName,
    InputError,
    PermanentVertexError,
    RetryableVertexError,
)
from codetune.logs import Logger
from codetune.messages import EvaluationRequested
from codetune.state import Record, RecordStore, Stage
from codetune.state.store import ANSWER_ROLES

LEASE_MARGIN_SECONDS = 120  # beyond evaluation_seconds: the function's timeout, and a margin
BAD_REQUEST = 400  # one example Vertex AI will not answer (too long, ...): it scores 0
# A throttled request is retried this often, with backoff, before the delivery gives up and
# leaves the rest to the next one (the client's reads get 5).
EVALUATION_ATTEMPTS = 8
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.@-]{0,127}", re.ASCII)


class Evaluated(StrEnum):
    DONE = "done"  # the verdict is in, the version ended
    NOTHING = "nothing to do"  # no evaluation waits (ended, or never planned)
    HELD = "held by another delivery"
    PARTIAL = "answers left for the next delivery"
    FAILED = "failed"  # ended without a verdict, saying why
    OFF = "turned off"  # the deployment turned evaluation off: ended without one


class EvaluationIncomplete(RetryableVertexError):
    """Some examples are not answered yet (time ran out, or Vertex AI throttled past the
    retries): the answers so far are stored, and the message is delivered again."""


class Example(Protocol):
    """One evaluation example as it is sent (codetune.evaluation.examples): its line, its
    prompt as generateContent's `contents` (and `systemInstruction`), and the reference."""

    @property
    def line(self) -> int: ...
    @property
    def reference(self) -> str: ...
    def prompt(self) -> dict[str, Any]: ...


class Models(Protocol):
    def generate_content(
        self, model: str, request: dict[str, Any], max_attempts: int | None = None
    ) -> dict[str, Any]: ...


ReadExamples = Callable[[RecordStore, EvaluationPlan], Sequence[Example]]


def evaluate(
    request: EvaluationRequested,
    store: RecordStore,
    models: Models,
    settings: Settings,
    log: Logger,
    announcer: Announcer | None = None,
    read_examples: ReadExamples | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Evaluated:
    """Evaluate the version the request names, as far as its time allows."""
    if request.bucket != store.uploads:
        log.error("evaluation request for another bucket: dropped", dataset=request.uri)
        return Evaluated.NOTHING
    run = _Run(request, store, models, settings, log, announcer, clock)
    return run(read_examples or _examples)


class _Run:
    def __init__(
        self,
        request: EvaluationRequested,
        store: RecordStore,
        models: Models,
        settings: Settings,
        log: Logger,
        announcer: Announcer | None,
        clock: Callable[[], float],
    ) -> None:
        self.dataset, self.generation = request.name, request.generation
        self.store, self.models, self.settings, self.log = store, models, settings, log
        self.announcer, self.clock = announcer, clock
        self.deadline = clock() + settings.evaluation_seconds

    def __call__(self, read_examples: ReadExamples) -> Evaluated:
        record = self.store.record(self.dataset, self.generation)
        if record is None or record.state is not Stage.EVALUATING or record.evaluation is None:
            return Evaluated.NOTHING
        if not self.settings.evaluation:
            self.end(EvaluationState.OFF, note="CODETUNE_EVALUATION=off in this deployment")
            return Evaluated.OFF
        held = self.take()
        if held is None:
            return Evaluated.HELD
        evaluation = held.evaluation
        assert evaluation is not None
        if evaluation.attempts > self.settings.evaluation_attempts:
            why = f"not finished in {self.settings.evaluation_attempts} deliveries"
            self.end(EvaluationState.FAILED, note=f"{why}: {evaluation.note or 'no answer'}")
            return Evaluated.FAILED
        try:
            models = self.model_names(held)
            examples = read_examples(self.store, evaluation.plan)
            answers = self.answer(examples, models, evaluation.plan)
        except (PermanentVertexError, InputError) as fault:
            # A foreign name, a model Vertex AI will not serve, an evaluation copy gone.
            self.log.error("evaluation failed", error=str(fault))
            self.end(EvaluationState.FAILED, note=str(fault)[:500])
            return Evaluated.FAILED
        missing = [e.line for e in examples if any((r, e.line) not in answers for r in models)]
        if missing:
            return self.release(len(examples) - len(missing), len(examples))
        self.finish(held, examples, answers, models)
        return Evaluated.DONE

    # --- the lease ---------------------------------------------------------------------------
    def take(self) -> Record | None:
        """The record with this delivery's lease, or None when another delivery holds one."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self.settings.evaluation_seconds + LEASE_MARGIN_SECONDS)

        def lease(current: Record | None) -> Record | None:
            if current is None or current.state is not Stage.EVALUATING:
                return None
            evaluation = current.evaluation
            if evaluation is None or _held(evaluation, now):
                return None
            return msgspec.structs.replace(
                current,
                evaluation=msgspec.structs.replace(
                    evaluation,
                    state=EvaluationState.RUNNING,
                    lease=until.isoformat(),
                    attempts=evaluation.attempts + 1,
                ),
                updated=now.isoformat(),
            )

        return self.store.update(self.dataset, self.generation, lease)

    def release(self, answered: int, planned: int) -> Evaluated:
        """The lease given back with the count so far; the message comes again."""
        note = f"{answered} of {planned} examples answered by both models so far"

        def give_back(current: Record | None) -> Record | None:
            if current is None or current.state is not Stage.EVALUATING or not current.evaluation:
                return None
            evaluation = msgspec.structs.replace(
                current.evaluation,
                state=EvaluationState.REQUESTED,
                lease=None,
                answered=answered,
                note=note,
                requested=_now(),
            )
            return msgspec.structs.replace(current, evaluation=evaluation, updated=_now())

        self.store.update(self.dataset, self.generation, give_back)
        self.log.warning("evaluation not finished: the next delivery goes on", note=note)
        raise EvaluationIncomplete(note)

    # --- answering ---------------------------------------------------------------------------
    def model_names(self, record: Record) -> dict[str, str]:
        """The base model and the tuned endpoint, by role, each held to the deployment."""
        from codetune.evaluation.answers import publisher_model

        tuned = record.tuned_model.endpoint if record.tuned_model else None
        if not tuned or not record.base_model:
            raise InputError("the record names no tuned endpoint or base model")
        if not _MODEL_ID.fullmatch(record.base_model):
            raise ForeignName(f"not a base model id: {record.base_model[:80]!r}")
        # Both answer from where the tuned model is served; the client holds each name to the
        # deployment before it sends anything.
        base = publisher_model(tuned, record.base_model)
        for name in (tuned, base):
            self.settings.deployment.model_location(name)
        return {"base": base, "tuned": tuned}

    def answer(
        self, examples: Sequence[Example], models: dict[str, str], plan: EvaluationPlan
    ) -> dict[tuple[str, int], Answer]:
        """Every answer there is: those stored before, and those asked for now (stored as
        they come), until the deadline or a throttle that outlasts the retries."""
        stored = self.store.answered(self.dataset, self.generation)
        answers: dict[tuple[str, int], Answer] = {}
        wanted = [
            (role, example)
            for example in examples
            for role in ANSWER_ROLES
            if (role, example.line) not in stored
        ]
        throttled: list[RetryableVertexError] = []

        def ask(role: str, example: Example) -> None:
            if throttled or self.clock() >= self.deadline:
                return  # left for the next delivery
            try:
                answer = self.ask(models[role], example, plan)
            except RetryableVertexError as fault:
                throttled.append(fault)
                return
            self.store.put_answer(self.dataset, self.generation, role, answer)
            answers[(role, example.line)] = answer

        with ThreadPoolExecutor(self.settings.evaluation_concurrency) as pool:
            for done in [pool.submit(ask, role, example) for role, example in wanted]:
                done.result()  # a permanent refusal of the model itself ends the evaluation
        if throttled:
            self.log.warning("Vertex AI throttled the evaluation", error=str(throttled[0]))
        for role, line in stored:
            found = self.store.answer(self.dataset, self.generation, role, line)
            if found is not None:
                answers[(role, line)] = found
        return answers

    def ask(self, model: str, example: Example, plan: EvaluationPlan) -> Answer:
        from codetune.evaluation.answers import UnreadableAnswer, parse_answer

        body: dict[str, Any] = {
            **example.prompt(),
            "generationConfig": {
                "temperature": plan.temperature,
                "maxOutputTokens": plan.max_output_tokens,
            },
        }
        try:
            response = self.models.generate_content(model, body, EVALUATION_ATTEMPTS)
        except PermanentVertexError as fault:
            if fault.status != BAD_REQUEST or isinstance(fault, ForeignName):
                raise
            return Answer(example.line, "", finish_reason=f"refused: {fault.status}")
        try:
            return parse_answer(response).answer(example.line)
        except UnreadableAnswer:
            return Answer(example.line, "", finish_reason="unreadable answer")

    # --- the verdict -------------------------------------------------------------------------
    def finish(
        self,
        record: Record,
        examples: Sequence[Example],
        answers: dict[tuple[str, int], Answer],
        models: dict[str, str],
    ) -> None:
        from codetune.app.eval_page import write_eval_page
        from codetune.evaluation.metrics import score
        from codetune.evaluation.verdict import ExampleScores, verdict

        assert record.evaluation is not None
        language = record.evaluation.plan.language
        results = []
        for example in examples:
            base, tuned = answers[("base", example.line)], answers[("tuned", example.line)]
            scores = ExampleScores(
                example.line,
                score(base.text, example.reference, language),
                score(tuned.text, example.reference, language),
            )
            results.append(
                ExampleResult(
                    example.line, _prompt(example), example.reference, base, tuned, scores
                )
            )
        found = verdict([r.scores for r in results])
        evaluation = msgspec.structs.replace(
            record.evaluation,
            state=EvaluationState.DONE,
            lease=None,
            answered=len(results),
            base_model=models["base"],
            tuned_model=models["tuned"],
            base_usage=_usage(r.base for r in results),
            tuned_usage=_usage(r.tuned for r in results),
            verdict=found,
            worse=tuple(found.worse),
            note=None,
            finished=_now(),
        )
        # The page first, so that the end (the record, the run page, the completion message)
        # names it; a page that cannot be written is logged and the end goes on without it.
        page = write_eval_page(
            self.store, self.dataset, msgspec.structs.replace(record, evaluation=evaluation),
            results, self.log,
        )  # fmt: skip
        ended = self.end(EvaluationState.DONE, msgspec.structs.replace(evaluation, page=page))
        if ended is None:
            return
        self.log.info(
            "tuned model evaluated",
            examples=found.examples,
            worse=list(found.worse),
            metrics={m.metric: m.difference for m in found.metrics},
            base_model=record.base_model,
        )
        if found.worse:
            self.log.warning(
                "tuned model worse than its base",
                metrics=list(found.worse),
                base_model=record.base_model,
                tuned_model=models["tuned"],
            )

    def end(
        self, state: EvaluationState, evaluation: Evaluation | None = None, note: str | None = None
    ) -> Record | None:
        """The version SUCCEEDED with its evaluation as it stands; its run page and its
        "dataset finished" message follow."""
        from codetune.app.run_page import write_run_page

        def ended(current: Record | None) -> Record | None:
            if current is None or current.state is not Stage.EVALUATING:
                return None
            final = evaluation or msgspec.structs.replace(
                current.evaluation or Evaluation(plan=_NO_PLAN), state=state, lease=None, note=note
            )
            warnings = list(current.warnings or [])
            if final.worse:
                warnings.append(_worse_warning(final))
            return current.advanced(
                Stage.SUCCEEDED, "evaluate", evaluation=final, warnings=warnings or None
            )

        written = self.store.update(self.dataset, self.generation, ended)
        if written is None:
            return None
        if state is not EvaluationState.DONE:
            self.log.warning("evaluation ended without a verdict", state=str(state), note=note)
        write_run_page(self.store, self.dataset, written, self.log)
        if self.announcer is not None:
            self.announcer(self.store, self.dataset, self.generation, self.log)
        return written


_NO_PLAN = EvaluationPlan("", "", "", 0, 0)


def _held(evaluation: Evaluation, now: datetime) -> bool:
    if evaluation.state is not EvaluationState.RUNNING or not evaluation.lease:
        return False
    try:
        return datetime.fromisoformat(evaluation.lease) > now
    except ValueError:
        return False


def _worse_warning(evaluation: Evaluation) -> str:
    return (
        f"the tuned model is worse than its base model beyond the "
        f"{evaluation.verdict.confidence if evaluation.verdict else 0.95:.0%} confidence interval "
        f"on {', '.join(evaluation.worse)} (docs/evaluation.md)"
    )


def _usage(answers: Iterable[Answer]) -> Usage:
    counted = list(answers)
    return Usage(
        len(counted),
        sum(a.prompt_tokens for a in counted),
        sum(a.output_tokens for a in counted),
    )


def _prompt(example: Example) -> str:
    """The prompt's turns as text, for the page (never the logs)."""
    prompt = example.prompt()
    turns = []
    if prompt.get("systemInstruction"):
        turns.append("system: " + _text(prompt["systemInstruction"]))
    turns += [f"{turn.get('role', 'user')}: {_text(turn)}" for turn in prompt["contents"]]
    return "\n\n".join(turns)


def _text(content: dict[str, Any]) -> str:
    return "".join(str(part.get("text", "")) for part in content.get("parts") or ())


def _examples(store: RecordStore, plan: EvaluationPlan) -> Sequence[Example]:
    """The plan's examples from its pinned copy, at the generation the job read."""
    from codetune.evaluation.examples import read_examples

    name = store.pinned_object(plan.pinned)
    try:
        with store.storage.open_dataset(store.bucket, name, plan.generation) as stream:
            return list(read_examples(stream, plan))
    except CodetuneError as fault:
        raise InputError(f"the evaluation copy {plan.pinned} could not be read: {fault}") from fault


def _now() -> str:
    return datetime.now(UTC).isoformat()
