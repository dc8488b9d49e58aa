"""The system's state, typed: where a dataset version stands (`Record`), where a job's record
is (`JobPointer`), and who is creating a Gemini tuning job (`Claim`).

Each is a typed record (a msgspec Struct) with a schema version and a JSON round trip;
`RecordStore` (store.py) alone knows their object names. A record only moves forward:
`Record.advanced` returns None for any step that is not one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Self

import msgspec

from codetune.evaluation.plan import Evaluation
from codetune.exceptions import InputError

RECORD_VERSION = 1
POINTER_VERSION = 2  # 2: names the backend that reads the job
CLAIM_VERSION = 1


class Stage(StrEnum):
    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"  # invalid dataset: final
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    # The job succeeded; its tuned model is answering the evaluation dataset beside its base
    # (codetune.app.evaluate). Only a version with a planned evaluation passes through here.
    EVALUATING = "EVALUATING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


_RANK = {
    Stage.VALIDATED: 1,
    Stage.SUBMITTED: 2,
    Stage.QUEUED: 3,
    Stage.RUNNING: 4,
    Stage.EVALUATING: 5,
    Stage.REJECTED: 9,
    Stage.SUCCEEDED: 9,
    Stage.FAILED: 9,
    Stage.CANCELLED: 9,
}
FINAL = frozenset(stage for stage, rank in _RANK.items() if rank == 9)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Step(msgspec.Struct, frozen=True):
    state: Stage
    time: str
    by: str


class JobRef(msgspec.Struct, frozen=True, omit_defaults=True):
    """The tuning job of a record, as last read."""

    name: str
    id: str | None = None
    state: str | None = None


class TunedModel(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    endpoint: str | None = None


class Finding(msgspec.Struct, frozen=True):
    """One of a rejected version's first errors, as its report lists it."""

    rule: str
    message: str
    line: int | None = None
    field: str | None = None


class PlanProblem(msgspec.Struct, frozen=True):
    """A rule a plan breaks (codetune.tuning.parameters.Problem, as stored)."""

    parameter: str
    rule: str
    message: str


class Failure(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a version ended without a tuned model, or why it waits: tune's rules (`problems`),
    Vertex AI's refusal or error (`status`, `code`: google.rpc.Status), or codetune's reason."""

    reason: str | None = None  # "parameters", "vertex", "foreign-job", ...
    message: str | None = None
    problems: tuple[PlanProblem, ...] | None = None
    status: int | None = None  # the HTTP status of a refusal
    code: int | str | None = None
    time: str | None = None  # when it was seen (a wait)


SLOT_WAIT = "slot"  # the Failure.reason of a dataset waiting for a tuning slot


class Dropped(msgspec.Struct, frozen=True):
    line: int
    reason: str | None = None


class DataStats(msgspec.Struct, frozen=True):
    """What the service counted (Gemini's tuningDataStats) beside codetune's own count, or
    where a pipeline job's metrics are."""

    billable_tokens: int | None = None
    tuning_steps: int | None = None
    examples: int | None = None
    dropped_examples: int = 0
    dropped: tuple[Dropped, ...] = ()
    estimated_tokens: int | None = None  # codetune's count of an epoch's tokens
    billed_to_estimate: float | None = None  # billable_tokens / estimated_tokens
    tensorboard: str | None = None  # the pipeline's TensorBoard, when one was named
    metrics: tuple[str, ...] = ()


class Point(msgspec.Struct, frozen=True, array_like=True):
    """One data point of a metric: `[step, value]` in JSON."""

    step: int
    value: float


class Series(msgspec.Struct, frozen=True, omit_defaults=True):
    """One metric of a job as Vertex AI recorded it, cut evenly to at most a few hundred
    points (the first and the last kept)."""

    name: str  # the time series' display name, e.g. "/train_total_loss"
    points: tuple[Point, ...] = ()
    read: int = 0  # points Vertex AI answered with, before the cut
    # Vertex AI answered as many points as it was asked for: past that it picks at random.
    capped: bool = False


class Curves(msgspec.Struct, frozen=True, omit_defaults=True):
    """A job's training metrics (docs/curves.md): its series, where they were read, and why
    some or all are missing."""

    read: str  # when
    experiment: str | None = None  # the job's Vertex AI Experiment (TuningJob.experiment)
    console: str | None = None  # where a person sees them in the Google Cloud console
    series: tuple[Series, ...] = ()
    missing: tuple[str, ...] = ()  # series Vertex AI listed but did not answer for
    note: str | None = None  # why there are none, or fewer than listed

    def named(self, name: str) -> Series | None:
        return next((s for s in self.series if s.name == name), None)


class Announced(msgspec.Struct, frozen=True, omit_defaults=True):
    """The "dataset finished" message: claimed while it is being published, then sent."""

    claimed: str | None = None
    message_id: str | None = None
    time: str | None = None


class Inputs(msgspec.Struct, frozen=True):
    """What the uploader set for a version, frozen by validate: each layer by the origin it
    was read from (`manifest`, `metadata`) with its values as written (untrusted: tune parses
    them), and the problems found reading them."""

    layers: tuple[tuple[str, dict[str, Any]], ...] = ()
    problems: tuple[PlanProblem, ...] = ()


class Tokens(msgspec.Struct, frozen=True, omit_defaults=True):
    """An epoch's tokens, and how they were counted: the budget and the cost start from them."""

    per_epoch: int
    method: str  # "estimate: characters / 4", "sentencepiece", "..., counted on the converted file"
    exact: bool  # a tokenizer's count, not an estimate
    context: int | None = None  # of them, a default_context's, given to every example

    @classmethod
    def of(cls, stats: Any) -> Tokens | None:
        """A report's `stats.tokens` (or a record's), typed; None for none or not one."""
        if not isinstance(stats, dict) or "per_epoch" not in stats:
            return None
        try:
            return msgspec.convert(stats, cls)
        except msgspec.ValidationError:
            return None


class Progress(msgspec.Struct, frozen=True, omit_defaults=True):
    """A running job's progress as Vertex AI last reported it (Gemini: v1beta1's
    `tuningJobState` and `tuningJobMetadata.completedEpochCount`; a pipeline: the task it
    runs, of its `jobDetail.taskDetails`)."""

    read: str  # when it was read
    detail: str | None = None  # e.g. TUNING_JOB_STATE_TUNING, _WAITING_FOR_QUOTA
    completed_epochs: int | None = None
    epochs: int | None = None  # planned
    started: str | None = None  # the job's startTime
    task: str | None = None  # a pipeline's running task
    completed_tasks: int | None = None
    tasks: int | None = None  # the pipeline's tasks known so far

    def moved_from(self, old: Progress | None) -> bool:
        """Further than `old`: more epochs or tasks done, or another detail or task."""
        if old is None:
            return True
        mine = (self.detail, self.completed_epochs, self.task, self.completed_tasks)
        theirs = (old.detail, old.completed_epochs, old.task, old.completed_tasks)
        return mine != theirs and (self.completed_epochs or 0) >= (old.completed_epochs or 0)

    def describe(self) -> str:
        """'tuning, 1 of 3 epochs done, about 4 min left'; 'running task tune-large-model
        (1 of 3 tasks done)'; 'queued by Vertex AI for quota'."""
        if self.task:
            text = f"running task {self.task}"
            return text + (
                f" ({self.completed_tasks or 0} of {self.tasks} tasks done)" if self.tasks else ""
            )
        detail = (self.detail or "running").removeprefix("TUNING_JOB_STATE_").lower()
        text = DETAILS.get(detail, detail.replace("_", " "))
        done, planned = self.completed_epochs, self.epochs
        if done is None or not planned:
            return text
        text += f", {done} of {planned} epochs done"
        left = self.seconds_left()
        return text + (f", about {_minutes(left)} left" if left is not None else "")

    def seconds_left(self) -> float | None:
        """At the pace of the epochs done so far."""
        if not self.started or not self.completed_epochs or not self.epochs:
            return None
        spent = (
            datetime.fromisoformat(self.read) - datetime.fromisoformat(self.started)
        ).total_seconds()
        return max(0.0, spent / self.completed_epochs * (self.epochs - self.completed_epochs))


# v1beta1's TuningJobState values, as a person reads them (the rest: lower case, spaced).
DETAILS = {
    "waiting_for_quota": "queued by Vertex AI for quota",
    "waiting_for_capacity": "waiting for Vertex AI capacity",
}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class Cancel(msgspec.Struct, frozen=True):
    """A cancel asked for this version: by whom (as the command line reports it, or
    `validate` superseding it), when, and why."""

    by: str
    time: str
    reason: str = "asked"


class Record(msgspec.Struct, frozen=True):
    """Where one dataset version stands. JSON: `to_json()`; unset fields are left out."""

    state: Stage
    dataset: str | None = None
    generation: str | None = None
    correlation_id: str | None = None
    kind: str | None = None
    format: str | None = None  # the examples' format (codetune.dataset.DatasetFormat)
    role: str | None = None
    examples: int | None = None
    # The examples' tokens, from the report; the budget and the cost estimate start from them.
    tokens: Tokens | None = None
    report: str | None = None
    # The generation of the validated version's copy in the state bucket: every job reads
    # exactly that object.
    pinned: str | None = None
    first_errors: tuple[Finding, ...] | None = None
    # What the uploader set for this version, frozen by validate; tune plans from it, not from
    # the manifest or metadata as they are later.
    inputs: Inputs | None = None
    backend: str | None = None
    base_model: str | None = None
    job: JobRef | None = None
    parameters: dict[str, Any] | None = None  # the request body sent
    derived: dict[str, Any] | None = None
    warnings: list[str] | None = None
    tuned_model: TunedModel | None = None
    # What the service counted (Gemini's tuningDataStats): billable tokens, steps, dropped
    # examples by dataset line, and `billed_to_estimate`, its tokens over the estimate's.
    data_stats: DataStats | None = None
    error: Failure | None = None
    waiting: Failure | None = None  # why a VALIDATED dataset has no job yet (retried)
    # The upload's W3C trace context: every message about this version carries it.
    traceparent: str | None = None
    progress: Progress | None = None  # while the job runs
    # The job's training metrics, read when it ended (codetune.tuning.curves).
    curves: Curves | None = None
    # The evaluation after the job (docs/evaluation.md): planned by tune, its verdict
    # recorded by evaluate.
    evaluation: Evaluation | None = None
    # A cancel asked for (codetune.app.cancel): tune creates no job after it, and cancels one
    # it created while the cancel was being written.
    cancel: Cancel | None = None
    # When tune was about to create the job, written under the record's precondition unless a
    # cancel is there: a cancel then leaves the job to tune.
    submitting: str | None = None
    # The "dataset finished" message (codetune.app.finished).
    announced: Announced | None = None
    updated: str | None = None
    history: tuple[Step, ...] = ()
    version: int = RECORD_VERSION

    def advanced(self, stage: Stage, by: str, **changes: Any) -> Record | None:
        """This record moved to `stage`, or None when that would not be a step forward."""
        if self.state in FINAL or _RANK[stage] <= _RANK[self.state]:
            return None
        return _step(self, stage, by, changes)

    @staticmethod
    def first(stage: Stage, by: str, **fields: Any) -> Record:
        return _step(Record(state=stage), stage, by, fields, fresh=True)

    def to_json(self) -> dict[str, Any]:
        """The stored document: every field that is set (None ones left out)."""
        return {k: v for k, v in msgspec.to_builtins(self).items() if v is not None}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Self:
        """A stored record, typed by msgspec (fields it does not know are a later version's,
        left alone); InputError for anything that is not one."""
        try:
            return msgspec.convert(document, cls)
        except msgspec.ValidationError as fault:
            raise InputError(f"not a codetune record: {fault}") from fault


def advance(current: Record | None, stage: Stage, by: str, **changes: Any) -> Record | None:
    """The record after moving to `stage` (a new one if there was none), or None if nothing
    changes. An earlier stage written late (tune's SUBMITTED after status's QUEUED) still
    contributes the fields the record lacks, without moving it back."""
    if current is None:
        return Record.first(stage, by, **changes)
    moved = current.advanced(stage, by, **changes)
    if moved is not None or _RANK[stage] >= _RANK[current.state]:
        return moved
    missing = {k: v for k, v in changes.items() if v is not None and getattr(current, k) is None}
    return msgspec.structs.replace(current, **missing, updated=_now()) if missing else None


def _step(
    record: Record, stage: Stage, by: str, changes: dict[str, Any], fresh: bool = False
) -> Record:
    time = _now()
    updates = {k: v for k, v in changes.items() if v is not None}
    return msgspec.structs.replace(
        record,
        **updates,
        state=stage,
        updated=time,
        history=(() if fresh else record.history) + (Step(stage, time, by),),
    )


class JobPointer(msgspec.Struct, frozen=True):
    """Where a job's record is: read by status (by job id) and by the sweep (unfinished jobs)."""

    job: str  # the job's resource name
    backend: str  # the tuning backend that reads it (codetune.tuning.backends)
    bucket: str
    dataset: str  # the dataset's object name
    generation: str
    correlation_id: str
    version: int = POINTER_VERSION
    traceparent: str | None = None  # the upload's W3C trace: status and the sweep log under it

    @property
    def job_id(self) -> str:
        return self.job.rpartition("/")[2]

    def to_json(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Self:
        if document.get("version") != POINTER_VERSION:
            raise InputError(
                f"job pointer version {document.get('version')!r}; this reads {POINTER_VERSION}"
            )
        try:
            return msgspec.convert(document, cls)
        except msgspec.ValidationError as fault:
            raise InputError(f"not a job pointer: {fault}") from fault


class Claim(msgspec.Struct, frozen=True):
    """One delivery's claim to create the tuning job of a request digest."""

    request: str
    since: float
    job: str | None = None  # the job's name, once created
    version: int = CLAIM_VERSION

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in msgspec.to_builtins(self).items() if v is not None}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Self:
        try:
            return msgspec.convert(document, cls)
        except msgspec.ValidationError as fault:
            raise InputError(f"not a claim: {fault}") from fault


def why_no_model(record: Record) -> str | None:
    """Why an ended version has no tuned model: tune's rules, Vertex AI's message, or the
    report's first rule (validate's `tuning` errors by tune's rule they lead with); for one
    not ended, why it waits, if it does."""
    if record.state not in FINAL or record.state is Stage.SUCCEEDED:
        waits = record.waiting and record.state is Stage.VALIDATED  # no job yet
        return record.waiting.message if waits and record.waiting else None
    if record.state is Stage.CANCELLED and record.cancel is not None:
        return f"cancelled by {record.cancel.by} ({record.cancel.reason})"
    error = record.error or Failure()
    rules = [p.rule for p in error.problems or ()]
    if rules:
        return ", ".join(dict.fromkeys(rules))
    if error.message:
        return error.message
    if not record.first_errors:
        return None
    first = record.first_errors[0]
    if first.rule == "tuning":
        return f"tuning: {first.message.partition(':')[0]}"
    return first.rule


def describe(record: Record) -> list[str]:
    """Where a dataset stands, in a few lines a person reads."""
    lines = [f"{record.dataset or '?'} (generation {record.generation or '?'}): {record.state}"]
    if record.correlation_id:
        lines.append(
            f'  correlation id {record.correlation_id} (logs: labels."codetune/correlation_id"="{record.correlation_id}")'
        )
    if record.state in (Stage.VALIDATED, Stage.REJECTED):
        lines.append(
            f"  {record.examples or 0:,} examples, {record.kind} {record.role} dataset; report {record.report}"
        )
    for error in record.first_errors or ():
        where = f"line {error.line}" if error.line else "file"
        lines.append(
            f"  {where}{', ' + error.field if error.field else ''} [{error.rule}] {error.message}"
        )
    if record.base_model:
        backend = f" ({record.backend} backend)" if record.backend else ""
        lines.append(f"  base model {record.base_model}{backend}")
    if record.job:
        lines.append(f"  job {record.job.name} ({record.job.state or 'state unknown'})")
    cost = (record.derived or {}).get("cost") or {}
    if cost.get("training_tokens") is not None:
        price = cost.get("estimated_cost_usd")
        lines.append(
            f"  estimated {cost['training_tokens']:,} training tokens "
            f"({cost['tokens_per_epoch']:,} an epoch x {cost['epochs']:g} epochs, "
            f"{cost.get('token_method')})" + (f", about ${price:,.2f}" if price is not None else "")
        )
    if record.tuned_model:
        lines.append(f"  tuned model: {record.tuned_model.model}")
    lines += _evaluated(record.evaluation)
    lines += _counted(record.data_stats or DataStats())
    for warning in record.warnings or []:
        lines.append(f"  warning: {warning}")
    if record.progress is not None and record.state not in FINAL:
        lines.append(f"  progress: {record.progress.describe()} (read {record.progress.read})")
    if record.cancel is not None:
        lines.append(
            f"  cancel asked by {record.cancel.by} at {record.cancel.time} ({record.cancel.reason})"
        )
    if record.waiting and record.state is Stage.VALIDATED:
        lines.append(f"  waiting since {record.waiting.time}: {record.waiting.message}")
    if record.error:
        for problem in record.error.problems or ():
            lines.append(f"  {problem.parameter} [{problem.rule}] {problem.message}")
        if record.error.message:
            lines.append(f"  error: {record.error.message}")
    return lines + timeline(record.history)


def _evaluated(evaluation: Evaluation | None) -> list[str]:
    """The evaluation's verdict, one line a metric, or how far it is (docs/evaluation.md)."""
    if evaluation is None:
        return []
    if evaluation.state == "planned":
        plan = evaluation.plan
        cost = plan.estimated_cost_usd
        return [
            f"  evaluation planned: {plan.examples:,} of {plan.available:,} examples on both "
            f"models, ~{plan.estimated_tokens or 0:,} tokens, "
            + (f"at most ${cost:,.2f}" if cost is not None else "cost unknown")
        ]
    if evaluation.verdict is None:
        return [f"  evaluation: {evaluation.brief()}"]
    lines = [f"  evaluation on {evaluation.verdict.examples} examples (tuned against base):"]
    lines += [f"    {line}" for line in evaluation.verdict.describe()]
    if evaluation.page:
        lines.append(f"    examples, worst first: {evaluation.page}")
    return lines


def _counted(stats: DataStats) -> list[str]:
    """What the service counted, and where the pipeline's metrics are."""
    lines = []
    if stats.billable_tokens is not None:
        ratio = stats.billed_to_estimate
        lines.append(
            f"  Google counted {stats.billable_tokens:,} billable tokens in the dataset"
            + (f" ({ratio:g}x codetune's count)" if ratio is not None else "")
            + f", {stats.tuning_steps or '?'} steps"
        )
    if stats.metrics:
        where = stats.tensorboard or "the job's TensorBoard (none was named)"
        lines.append(f"  metrics (S-24) in {where}: {', '.join(stats.metrics)}")
    if stats.dropped_examples:
        dropped = "; ".join(
            f"line {d.line}" + (f" ({d.reason})" if d.reason else "") for d in stats.dropped
        )
        lines.append(f"  {stats.dropped_examples:,} examples dropped by Google: {dropped}")
    return lines


def timeline(history: tuple[Step, ...]) -> list[str]:
    """Each stage with when it was recorded, by which function, and how long the dataset
    stayed in the stage before it (the last line: the whole way so far)."""
    if not history:
        return []
    times = [datetime.fromisoformat(step.time) for step in history]
    lines = ["  timeline:"]
    for index, (step, moment) in enumerate(zip(history, times, strict=True)):
        stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        after = f"  +{_duration(moment - times[index - 1])}" if index else ""
        lines.append(f"    {stamp}  {step.state:<9} by {step.by}{after}")
    if len(history) > 1:
        lines.append(
            f"    {_duration(times[-1] - times[0])} from {history[0].state} to {history[-1].state}"
        )
    return lines


def _duration(delta: timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
