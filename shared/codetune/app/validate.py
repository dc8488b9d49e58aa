"""validate: check an uploaded dataset version, report beside it, record it, announce it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

import msgspec

from codetune.app.admission import report_problems
from codetune.app.finished import announce
from codetune.config import Settings
from codetune.dataset import (
    DatasetFormat,
    DatasetRole,
    RuleSet,
    ValidationReport,
    validate_stream,
)
from codetune.dataset.checks import TimeShare
from codetune.dataset.html import render
from codetune.dataset.near import NearDuplicates
from codetune.dataset.tokens import deployment_tokenizer
from codetune.events import StorageObject
from codetune.logs import Logger
from codetune.messages import CancelRequested, DatasetValidated
from codetune.ports import ObjectStore, Publisher
from codetune.state import FINAL, RecordStore, Stage
from codetune.state.records import Finding as FirstError
from codetune.state.records import Inputs, Tokens
from codetune.state.store import html_report_name
from codetune.tuning import budget
from codetune.tuning.backends import default_rules, resolve_base_model, rules_for
from codetune.tuning.common import DatasetRef
from codetune.tuning.manifest import (
    DATASET_SUFFIX,
    EVALUATION_SUFFIX,
    MAX_MANIFEST_BYTES,
    manifest_name,
    training_name,
)
from codetune.tuning.parameters import Problem, TuningParameters, resolve
from codetune.tuning.sources import (
    Source,
    dataset_layers,
    freeze,
    frozen_sources,
    layer_strings,
)


class Validation(StrEnum):
    IGNORED = "ignored"  # not a dataset upload (reports, manifests, the system's own objects)
    STALE = "stale"  # a newer version replaced this one
    REJECTED = "rejected"
    VALIDATED = "validated"


def validate_upload(
    obj: StorageObject,
    storage: ObjectStore,
    publisher: Publisher,
    settings: Settings,
    log: Logger,
    traceparent: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Validation:
    """Validate one uploaded object version against the rules of the base model it will be
    tuned on; publish "dataset validated" only if it is valid. The upload's `traceparent`
    travels on with the message."""
    if not _is_upload(obj, settings):
        log.info("not a dataset upload: ignored", object=obj.uri)
        return Validation.IGNORED
    live = storage.current(obj.bucket, obj.name)
    if live is None or live.generation != obj.generation:
        log.info(
            "stale event: a newer version replaced this one",
            object=obj.uri,
            generation=obj.generation,
        )
        return Validation.STALE
    evaluation = obj.name.lower().endswith(EVALUATION_SUFFIX)
    role = DatasetRole.EVALUATION if evaluation else DatasetRole.TRAINING
    inputs = frozen_inputs(obj, live.metadata, storage)
    # The parameter sources as tune will resolve them: the deployment's defaults < the
    # manifest < the object's metadata (the base model's rules, the epochs and price in force).
    sources, source_problems = frozen_sources(environ or {}, inputs)
    rules = target_rules(sources, log)
    log.info(
        "validating dataset",
        dataset=obj.uri,
        generation=obj.generation,
        role=str(role),
        base_model=rules.base_model,
        rule_set=rules.name,
    )
    report = _checked(obj, storage, settings, role, rules, sources, source_problems)
    store = RecordStore.of(storage, settings)
    report_uri = _write_reports(obj, report, store, resolve(sources)[0])
    # Every job reads a copy of exactly this generation, in the state bucket: a later upload
    # under the same name never changes what a job trains on.
    pinned = store.pin(obj.name, obj.generation) if report.valid else None
    if report.valid and pinned is None:
        log.info(
            "stale event: replaced while it was validated",
            object=obj.uri,
            generation=obj.generation,
        )
        return Validation.STALE
    _record(obj, report, store, role, inputs, report_uri, pinned, traceparent, log)
    if not report.valid or report.kind is None:
        errors = report.errors.counts
        log.error(
            "dataset rejected",
            dataset=obj.uri,
            errors=dict(sorted(errors.items())),
            # The rule most broken: what a log-based metric of rejections is labelled by.
            rule=max(errors, key=errors.__getitem__) if errors else "unknown",
            report=store.report_location(obj.name)[1],
        )
        announce(obj.name, obj.generation, store, publisher, settings, log)
        return Validation.REJECTED
    message = DatasetValidated(
        obj.bucket,
        obj.name,
        obj.generation,
        report.kind,
        role,
        report.examples,
        report_uri,
        log.correlation or "",
        live.metadata,
        traceparent,
        DatasetFormat(report.format),
    )
    message_id = publisher.publish(settings.validated_topic_path, *message.encode())
    if settings.supersede == "cancel" and role is DatasetRole.TRAINING:
        supersede(obj, store, publisher, settings, log)
    log.info(
        "dataset validated",
        dataset=obj.uri,
        kind=str(report.kind),
        examples=report.examples,
        warnings=dict(sorted(report.warnings.counts.items())),
        message_id=message_id,
    )
    return Validation.VALIDATED


def supersede(
    obj: StorageObject, store: RecordStore, publisher: Publisher, settings: Settings, log: Logger
) -> None:
    """SUPERSEDE=cancel: every older version of this name that has not ended is cancelled
    (a request to tune, as `codetune cancel` sends, by "validate")."""
    now = datetime.now(UTC).isoformat()
    for generation in store.generations(obj.name):
        if not generation.isdigit() or int(generation) >= int(obj.generation):
            continue
        older = store.record(obj.name, generation)
        if older is None or older.state in FINAL or older.cancel is not None:
            continue
        reason = f"superseded by generation {obj.generation}"
        request = CancelRequested(obj.bucket, obj.name, generation, "validate", now, reason)
        publisher.publish(settings.validated_topic_path, *request.encode())
        log.info("older version's job to be cancelled", generation=generation, reason=reason)


def _is_upload(obj: StorageObject, settings: Settings) -> bool:
    """A dataset under the deployment's upload prefix (not a report, a manifest, state)."""
    return (
        (not settings.bucket or obj.bucket == settings.bucket)
        and obj.name.startswith(settings.upload_prefix)
        and obj.name.lower().endswith(DATASET_SUFFIX)
    )


def _checked(
    obj: StorageObject,
    storage: ObjectStore,
    settings: Settings,
    role: DatasetRole,
    rules: RuleSet,
    sources: list[Source],
    source_problems: list[Problem],
) -> ValidationReport:
    """The version's report: every rule of the dataset and, for a training dataset, all tune
    would refuse before a job (rule `tuning`)."""
    with storage.open_dataset(obj.bucket, obj.name, obj.generation) as stream:
        # Both stop in time for the report to be written before the function's timeout.
        checks = (
            [NearDuplicates(time=TimeShare(settings.validation_seconds / 2))]
            if settings.near_duplicates and role is DatasetRole.TRAINING
            else []
        )
        report = validate_stream(
            stream,
            obj.uri,
            role=role,
            rules=rules,
            secrets=settings.secrets,
            checks=checks,
            tokenizer=deployment_tokenizer(settings.tokenizer_model),
            time_limit=settings.validation_seconds,
            beside=layer_strings(sources),  # the manifest's and metadata's: secrets too
        )
    if role is DatasetRole.TRAINING:
        version = DatasetRef(obj.uri, obj.generation)
        allowed, state = settings.allowed_base_models, settings.state
        checked = report_problems(version, report, sources, source_problems, allowed, state)
        for problem in checked.errors:
            report.errors.add(problem)
    return report


def _write_reports(
    obj: StorageObject, report: ValidationReport, store: RecordStore, p: TuningParameters
) -> str:
    """The JSON report and the page beside the upload (or in the state bucket for a name too
    long); the JSON report's URI."""
    bucket, name = store.report_location(obj.name)
    summary = report.to_dict()
    store.storage.write_json(bucket, name, {**summary, "generation": obj.generation})
    # The same report as a page to look at; the cost at the epochs and price in force.
    cost = budget.for_report(summary["stats"]["tokens"], p, report.rules.base_model)
    page_name = html_report_name(obj.name, store.prefix)  # beside the report, wherever it is
    with store.storage.writer(bucket, page_name, "text/html; charset=utf-8") as page:
        page.write(render(report, cost.to_dict()).encode())
    return f"gs://{bucket}/{name}"


def _record(
    obj: StorageObject,
    report: ValidationReport,
    store: RecordStore,
    role: DatasetRole,
    inputs: Inputs,
    report_uri: str,
    pinned: str | None,
    traceparent: str | None,
    log: Logger,
) -> None:
    """The version's record: VALIDATED or REJECTED, with what tune plans from."""
    summary = report.to_dict()
    store.advance(
        obj.name,
        obj.generation,
        Stage.VALIDATED if report.valid else Stage.REJECTED,
        "validate",
        dataset=obj.uri,
        generation=obj.generation,
        correlation_id=log.correlation,
        kind=summary["kind"],
        format=summary["format"],
        role=str(role),
        base_model=report.rules.base_model,
        inputs=inputs,
        examples=report.examples,
        tokens=Tokens.of(summary["stats"]["tokens"]),
        report=report_uri,
        pinned=pinned,
        first_errors=(
            msgspec.convert(summary["errors"][:5], tuple[FirstError, ...])
            if not report.valid
            else None
        ),
        traceparent=traceparent,
    )


def frozen_inputs(obj: StorageObject, metadata: Mapping[str, str], storage: ObjectStore) -> Inputs:
    """What the uploader set for this version, as it is now: the manifest beside it (an
    evaluation dataset's is its training dataset's) and the object's metadata. Frozen in the
    record: a later edit takes effect with the next upload, never on a job of this one."""
    manifest = storage.read_bytes(
        obj.bucket, manifest_name(training_name(obj.name)), MAX_MANIFEST_BYTES
    )
    layers, problems = dataset_layers(obj.uri, manifest, metadata)
    return freeze(layers, problems)


def target_rules(sources: list[Source], log: Logger) -> RuleSet:
    """The rules of the base model this upload will be tuned on, resolved as tune resolves it."""
    model = resolve_base_model(sources)
    rules = rules_for(model)
    if rules is None:  # tune refuses the model by name; validate by the default's rules meanwhile
        log.warning("unknown base model: validated by the default model's rules", base_model=model)
        rules = default_rules()
    return rules
