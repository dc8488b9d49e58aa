"""tune: plan a validated dataset's tuning job and submit it exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

import msgspec

from codetune.app.admission import admit, evaluation_share
from codetune.app.cancel import (
    cancelled_before_job,
    cancelled_without_job,
    mark_submitting,
    stop_job,
)
from codetune.app.finished import Announcer
from codetune.app.planned_evaluation import planned_evaluation
from codetune.config import Settings
from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole, Rule
from codetune.dataset.tokens import deployment_tokenizer
from codetune.evaluation.plan import Evaluation, EvaluationPlan
from codetune.exceptions import (
    NOT_FOUND,
    CancelledBeforeJob,
    NoTuningSlot,
    PermanentVertexError,
    PlanRejected,
    RetryableVertexError,
)
from codetune.logs import Logger
from codetune.messages import DatasetValidated
from codetune.ports import ObjectStore
from codetune.state import FINAL, JobPointer, JobRef, Record, RecordStore, Stage
from codetune.state.records import SLOT_WAIT, Failure, PlanProblem
from codetune.tuning.backends import (
    SubmitContext,
    default_rules,
    rules_for,
)
from codetune.tuning.backends.base import (
    Submitted,
    TuningBackend,
    TuningPlan,
    VertexAI,
)
from codetune.tuning.budget import Admission
from codetune.tuning.common import DatasetRef
from codetune.tuning.parameters import Problem
from codetune.tuning.sources import frozen_sources


class Tuning(StrEnum):
    SKIPPED = "skipped"  # an evaluation dataset: tuned with its training dataset
    DROPPED = "dropped"  # not a validated version of the deployment's bucket
    REJECTED = "rejected"  # parameters or data break a rule: no job
    REFUSED = "refused"  # Vertex AI refused the job for good
    SUBMITTED = "submitted"
    # A repeated delivery: the job exists, or the dataset ended.
    ALREADY_SUBMITTED = "already submitted"
    CANCELLED = "cancelled"  # a cancel came first: no job
    WAITING = "waiting"  # no tuning slot: the record waits, the sweep submits it again


def tune_dataset(
    dataset: DatasetValidated,
    storage: ObjectStore,
    vertex: VertexAI,
    settings: Settings,
    environ: Mapping[str, str],
    log: Logger,
    announcer: Announcer | None = None,
) -> Tuning:
    """Raises RetryableVertexError (and storage errors) for the delivery to be retried.

    The message only names a dataset version; what is tuned comes from that version's record:
    it must be in the deployment's bucket and VALIDATED (or further, for a redelivery), and its
    kind, size, format and the uploader's settings are those validate recorded.
    """
    if not _ours(dataset, settings, log):
        return Tuning.DROPPED
    store = RecordStore.of(storage, settings)
    record = store.record(dataset.name, dataset.generation)
    early = _not_to_submit(dataset, record, log)
    if early is not None or record is None:
        return early or Tuning.DROPPED
    run = _Run(dataset, store, vertex, settings, log, announcer)
    if record.cancel is not None and cancelled_before_job(
        store, dataset.name, dataset.generation, log
    ):
        run.announce()
        return Tuning.CANCELLED
    try:
        prepared = run.prepare(record, environ)
        submitted = prepared.backend.submit(prepared.plan, prepared.context)
    except CancelledBeforeJob:
        if cancelled_before_job(store, dataset.name, dataset.generation, log):
            run.announce()
        return Tuning.CANCELLED
    except PlanRejected as rejected:
        return run.rejected(rejected)
    except PermanentVertexError as refused:
        cancelled = record.cancel is not None and refused.status == NOT_FOUND
        if cancelled and cancelled_without_job(store, dataset.name, dataset.generation, log):
            run.announce()
            return Tuning.CANCELLED
        return run.refused(refused)
    except NoTuningSlot as no_slot:
        run.waiting_for_slot(no_slot)  # nothing created: a cancel that came meanwhile ends it
        if cancelled_before_job(store, dataset.name, dataset.generation, log):
            run.announce()
            return Tuning.CANCELLED
        return Tuning.WAITING
    except RetryableVertexError as transient:
        run.waiting(transient)
        raise
    return run.recorded(prepared, submitted)


def _ours(dataset: DatasetValidated, settings: Settings, log: Logger) -> bool:
    """A version of the deployment's uploads: anything else is dropped."""
    if settings.bucket and dataset.bucket != settings.bucket:
        log.error("message for a bucket not the deployment's: dropped", bucket=dataset.bucket)
        return False
    if not dataset.name.startswith(settings.upload_prefix):
        log.error(
            "message for a dataset outside the upload prefix: dropped",
            dataset=dataset.uri,
            upload_prefix=settings.upload_prefix,
        )
        return False
    return True


def _not_to_submit(dataset: DatasetValidated, record: Record | None, log: Logger) -> Tuning | None:
    """Why this delivery submits nothing (not validated, an evaluation set, already past
    validation), or None."""
    if record is None or record.state is Stage.REJECTED or record.kind is None:
        log.error(
            "message for a version that was not validated: dropped",
            dataset=dataset.uri,
            generation=dataset.generation,
            state=record.state if record else None,
        )
        return Tuning.DROPPED
    if record.role == DatasetRole.EVALUATION:
        log.info("evaluation dataset: tuned only with its training dataset", dataset=dataset.uri)
        return Tuning.SKIPPED
    if record.state in FINAL or (record.state is not Stage.VALIDATED and record.parameters):
        # tune recorded its job (or the dataset ended): never ask Vertex AI again. The job may
        # have vanished, and an id that is free again would make a second paid job.
        log.info(
            "dataset already past validation: nothing to submit",
            dataset=dataset.uri,
            stage=str(record.state),
            job=record.job.name if record.job else None,
        )
        return Tuning.ALREADY_SUBMITTED
    return None


class _Prepared(msgspec.Struct, frozen=True):
    plan: TuningPlan
    backend: TuningBackend
    context: SubmitContext
    budget: Admission  # its estimate, once checked on what trains
    warnings: list[str]
    evaluation: EvaluationPlan | None = None  # after the job, counted in the budget


class _Run:
    """One delivery for one dataset version: its plan, its submission, and what is recorded."""

    def __init__(
        self,
        dataset: DatasetValidated,
        store: RecordStore,
        vertex: VertexAI,
        settings: Settings,
        log: Logger,
        announcer: Announcer | None,
    ) -> None:
        self.dataset, self.store, self.vertex = dataset, store, vertex
        self.settings, self.log, self.announcer = settings, log, announcer

    def prepare(self, record: Record, environ: Mapping[str, str]) -> _Prepared:
        """Every check before a job (PlanRejected with what fails), and what submitting needs."""
        dataset, store, settings = self.dataset, self.store, self.settings
        kind = DatasetKind(record.kind or DatasetKind.GENERATION)  # set: _not_to_submit
        form = DatasetFormat(record.format or DatasetFormat.SEED)
        sources, problems = frozen_sources(environ, record.inputs)
        version = DatasetRef(dataset.uri, dataset.generation)
        examples = record.examples or 0
        admitted = admit(
            version, kind, form, examples, record.tokens, sources, problems,
            settings.allowed_base_models, store.bucket,
        )  # fmt: skip
        plan = admitted.plan
        evaluation, evaluation_format, evaluation_examples = validated_evaluation(
            plan.evaluation_source, plan.base_model, store, settings.upload_prefix
        )
        evaluation_share(plan.base_model, evaluation_examples, examples)
        pinned = DatasetRef(store.pinned_uri(dataset.name, dataset.generation), record.pinned)
        unchanged_copy(pinned, store.storage)
        warnings = list(plan.warnings)
        if evaluation is not None and plan.evaluation_source is not None:
            warnings += no_overlap(
                pinned, form, evaluation, evaluation_format, plan, store.storage,
                settings.near_duplicates,
            )  # fmt: skip
        for warning in warnings:
            self.log.warning(warning, dataset=dataset.uri, base_model=plan.base_model)
        counter = deployment_tokenizer(settings.tokenizer_model)
        evaluated = planned_evaluation(
            admitted, evaluation, evaluation_format, evaluation_examples, kind, settings,
            store.storage, counter.count if counter else None,
        )  # fmt: skip
        context = SubmitContext(
            pinned, kind, form, evaluation, evaluation_format, store.storage, store, self.vertex,
            lambda job: self.pointer(job, admitted.backend.name), admitted.budget,
            settings.claim_timeout_seconds,
            # Job events got here first (a job exists or existed): find it, never create.
            # A cancel with tune's `submitting` mark: a job may exist, and is only looked for.
            may_create=record.state is Stage.VALIDATED and record.cancel is None,
            count_tokens=counter.count if counter else None,
            before_create=self.before_create,
        )  # fmt: skip
        return _Prepared(plan, admitted.backend, context, admitted.budget, warnings, evaluated)

    def before_create(self) -> None:
        """With the request claimed, just before the create: a slot is free, as far as the
        deployment counts them, and no cancel came (then tune's `submitting` mark)."""
        slots = self.settings.tuning_slots
        if slots and (used := self.store.open_job_count()) >= slots:
            raise NoTuningSlot(f"{used} of {slots} tuning slots in use")
        mark_submitting(self.store, self.dataset.name, self.dataset.generation)

    def pointer(self, job: str, backend: str) -> JobPointer:
        d = self.dataset
        return JobPointer(
            job, backend, d.bucket, d.name, d.generation, d.correlation_id,
            traceparent=d.traceparent,
        )  # fmt: skip

    def recorded(self, prepared: _Prepared, submitted: Submitted) -> Tuning:
        """The job in its record and the sweep's index; cancelled at once if a cancel came
        while it was being created."""
        dataset, store, plan = self.dataset, self.store, prepared.plan
        job, spend = submitted.job, prepared.budget
        store.open_job(self.pointer(job["name"], prepared.backend.name))  # for the sweep
        store.advance(
            dataset.name,
            dataset.generation,
            Stage.SUBMITTED,
            "tune",
            backend=prepared.backend.name,
            base_model=plan.base_model,
            job=JobRef(job["name"], job["name"].rpartition("/")[2], job.get("state")),
            parameters=plan.body,
            derived={**plan.derived.to_dict(), "cost": spend.spend.to_dict()},
            warnings=prepared.warnings or None,
            evaluation=Evaluation(prepared.evaluation) if prepared.evaluation else None,
        )
        self.log.info(
            "tuning job submitted" if submitted.created else "tuning job already existed",
            job=job["name"],
            backend=prepared.backend.name,
            base_model=plan.base_model,
            training_tokens=spend.spend.training_tokens,
            estimated_cost_usd=spend.spend.cost,
            evaluation_examples=prepared.evaluation.examples if prepared.evaluation else None,
            evaluation_cost_usd=spend.evaluation.cost if spend.evaluation else None,
        )
        now = store.record(dataset.name, dataset.generation)
        if now is not None and now.cancel is not None:  # asked while this job was created
            stop_job(job["name"], self.vertex, self.log)
        return Tuning.SUBMITTED if submitted.created else Tuning.ALREADY_SUBMITTED

    def rejected(self, rejected: PlanRejected) -> Tuning:
        reasons = [p.to_dict() for p in rejected.problems]
        self.log.error(
            "tuning parameters or data rejected: no job submitted",
            dataset=self.dataset.uri,
            problems=reasons,
        )
        self.fail(Failure("parameters", problems=tuple(PlanProblem(**r) for r in reasons)))
        return Tuning.REJECTED

    def refused(self, refused: PermanentVertexError) -> Tuning:
        self.log.error("Vertex AI refused the job", status=refused.status, error=str(refused))
        self.fail(Failure("vertex", str(refused), status=refused.status, code=refused.reason))
        return Tuning.REFUSED

    def waiting(self, transient: RetryableVertexError) -> None:
        """Pub/Sub delivers the message again; meanwhile the record says why there is no job."""
        why = Failure("vertex", str(transient), time=_now())
        self.log.warning("Vertex AI not available: the delivery will be retried", error=why.message)

        def note(current: Record | None) -> Record | None:
            if current is None or current.state is not Stage.VALIDATED:
                return None
            return msgspec.structs.replace(current, waiting=why)

        self.store.update(self.dataset.name, self.dataset.generation, note)

    def waiting_for_slot(self, no_slot: NoTuningSlot) -> None:
        """No job and none sent: the record says why it waits, and the message is done with
        (no redelivery storm, nothing dead-lettered); the sweep submits it again, oldest
        first, as slots free up. Tune's `submitting` mark goes: nothing was created."""
        refused = no_slot.status is not None
        why = Failure(
            SLOT_WAIT,
            "waiting for a tuning slot: "
            + (f"Vertex AI refused the job for the project's quota ({no_slot.status} "
               f"{no_slot.reason or 'RESOURCE_EXHAUSTED'})" if refused else str(no_slot)),
            status=no_slot.status,
            code=no_slot.reason,
            time=_now(),
        )  # fmt: skip
        self.log.warning(why.message or "", dataset=self.dataset.uri)

        def note(current: Record | None) -> Record | None:
            if current is None or current.state is not Stage.VALIDATED or current.job:
                return None
            return msgspec.structs.replace(current, waiting=why, submitting=None)

        self.store.update(self.dataset.name, self.dataset.generation, note)

    def fail(self, error: Failure) -> None:
        d = self.dataset
        self.store.advance(d.name, d.generation, Stage.FAILED, "tune", error=error)
        self.announce()

    def announce(self) -> None:
        if self.announcer is not None:
            self.announcer(self.store, self.dataset.name, self.dataset.generation, self.log)


def unchanged_copy(pinned: DatasetRef, storage: ObjectStore) -> None:
    """The validated copy is there, at the generation validate made (when it recorded one)."""
    live = storage.current(pinned.bucket, pinned.name)
    if live is None or pinned.generation not in (None, live.generation):
        raise PlanRejected(
            [
                Problem(
                    "dataset",
                    "pinned",
                    "the validated copy is missing or was replaced since validation: upload the "
                    "dataset again",
                )
            ]
        )


def validated_evaluation(
    uri: str | None, base_model: str, store: RecordStore, upload_prefix: str
) -> tuple[DatasetRef | None, DatasetFormat, int]:
    """No job from an invalid dataset: the evaluation dataset's live version must have passed
    validate too, as an evaluation dataset for the same base model's rules, and it must be an
    upload of the same bucket (a dataset may not point a job at another bucket's data). Its
    pinned copy is what the job reads."""
    if uri is None:
        return None, DatasetFormat.SEED, 0
    ref = DatasetRef(uri)  # a manifest names an object, never a generation: '#' is a character
    bucket = store.uploads
    if ref.bucket != bucket or not ref.name.startswith(upload_prefix):
        raise PlanRejected(
            [
                Problem(
                    "evaluation_data_uri",
                    "deployment-only",
                    f"the evaluation dataset must be an upload of gs://{bucket}/"
                    f"{upload_prefix}, like the dataset it evaluates",
                )
            ]
        )
    live = store.storage.current(bucket, ref.name)
    record = None if live is None else store.record(ref.name, live.generation)
    if (
        live is None
        or record is None
        or record.state is not Stage.VALIDATED
        or record.role != DatasetRole.EVALUATION
    ):
        state = "missing" if live is None else (record.state if record else "not validated yet")
        raise PlanRejected(
            [
                Problem(
                    "evaluation_data_uri",
                    "S-5",
                    f"the evaluation dataset must be uploaded (as *.eval.jsonl) and valid first: {state}",
                )
            ]
        )
    if record.base_model not in (None, base_model):
        raise PlanRejected(
            [
                Problem(
                    "evaluation_data_uri",
                    "S-5",
                    f"the evaluation dataset was validated for {record.base_model}, and the job "
                    f"tunes {base_model}: upload it again so that it is checked for {base_model}",
                )
            ]
        )
    pinned = DatasetRef(store.pinned_uri(ref.name, live.generation), record.pinned)
    unchanged_copy(pinned, store.storage)
    return pinned, DatasetFormat(record.format or DatasetFormat.SEED), record.examples or 0


# How long tune may search for near-overlaps (opt-in warnings): its timeout, the push
# subscription's 600 s ack deadline, must also hold the Gemini conversion of a 1 GB dataset,
# the exact overlap check and Vertex AI's retries (deploy/deploy.sh).
NEAR_OVERLAP_SECONDS = 120


def no_overlap(
    training: DatasetRef,
    training_format: DatasetFormat,
    evaluation: DatasetRef,
    evaluation_format: DatasetFormat,
    plan: TuningPlan,
    storage: ObjectStore,
    near: bool = False,
) -> list[str]:
    """No job scored on its own training data (rule `overlap`): the two validated copies are
    compared here, whichever was uploaded first. Near-overlaps (when the deployment asks for
    near-duplicates) do not stop the job: they come back as the job's warnings."""
    # Here, not at import: only a dataset paired with an evaluation set needs the validator,
    # and tune's cold start then skips it (benchmarks/README.md).
    from codetune.dataset.overlap import find_overlap

    rules = rules_for(plan.base_model) or default_rules()
    with (
        storage.open_dataset(
            evaluation.bucket, evaluation.name, evaluation.generation
        ) as evaluation_stream,
        storage.open_dataset(
            training.bucket, training.name, training.generation
        ) as training_stream,
    ):
        found = find_overlap(
            training_stream,
            evaluation_stream,
            plan.evaluation_source or evaluation.uri,
            rules=rules,
            training_format=training_format,
            evaluation_format=evaluation_format,
            near=near,
            near_time_limit=NEAR_OVERLAP_SECONDS,
        )
    if not found.exact:
        warnings = [
            f"training line {f.line}: {f.message}" if f.line else f.message
            for f in found.near_listed
        ]
        if found.near > len(found.near_listed):
            warnings.append(f"and {found.near - len(found.near_listed):,} more near-overlaps")
        return warnings
    problems = [
        Problem("evaluation_data_uri", str(Rule.OVERLAP), f"training line {f.line}: {f.message}")
        for f in found.exact_listed
    ]
    if found.exact > len(found.exact_listed):
        problems.append(
            Problem(
                "evaluation_data_uri",
                str(Rule.OVERLAP),
                f"and {found.exact - len(found.exact_listed):,} more training examples in the "
                "evaluation dataset",
            )
        )
    raise PlanRejected(problems)


def _now() -> str:
    return datetime.now(UTC).isoformat()
