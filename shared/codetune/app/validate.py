"""validate: check an uploaded dataset version, report beside it, record it, announce it."""

from __future__ import annotations

from enum import StrEnum

from codetune.config import Settings
from codetune.dataset import DatasetRole, validate_stream
from codetune.events import StorageObject
from codetune.logs import Logger
from codetune.messages import DatasetValidated
from codetune.ports import ObjectStore, Publisher
from codetune.state import RecordStore, Stage, report_name
from codetune.tuning.manifest import DATASET_SUFFIX, EVALUATION_SUFFIX


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
) -> Validation:
    """Validate one uploaded object version; publish "dataset validated" only if it is valid.
    The upload's `traceparent` travels on with the message."""
    if not obj.name.startswith(settings.upload_prefix) or not obj.name.endswith(DATASET_SUFFIX):
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
    role = DatasetRole.EVALUATION if obj.name.endswith(EVALUATION_SUFFIX) else DatasetRole.TRAINING
    log.info("validating dataset", dataset=obj.uri, generation=obj.generation, role=str(role))
    with storage.open_dataset(obj.bucket, obj.name, obj.generation) as stream:
        report = validate_stream(stream, obj.uri, role=role)
    summary = report.to_dict()
    report_object = report_name(obj.name)
    storage.write_json(obj.bucket, report_object, {**summary, "generation": obj.generation})
    report_uri = f"gs://{obj.bucket}/{report_object}"
    RecordStore(storage, obj.bucket, settings.system_prefix).advance(
        obj.name,
        obj.generation,
        Stage.VALIDATED if report.valid else Stage.REJECTED,
        "validate",
        dataset=obj.uri,
        generation=obj.generation,
        correlation_id=log.correlation,
        kind=summary["kind"],
        role=str(role),
        examples=report.examples,
        report=report_uri,
        first_errors=summary["errors"][:5] if not report.valid else None,
    )
    counts = summary["stats"]["findings"]
    if not report.valid or report.kind is None:
        log.error(
            "dataset rejected", dataset=obj.uri, errors=counts["errors"], report=report_object
        )
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
    )
    data, attributes = message.encode()
    message_id = publisher.publish(settings.validated_topic_path, data, attributes)
    log.info(
        "dataset validated",
        dataset=obj.uri,
        kind=str(report.kind),
        examples=report.examples,
        warnings=counts["warnings"],
        message_id=message_id,
    )
    return Validation.VALIDATED
