"""validate: a dataset lands in the bucket; check it, report beside it, announce it if valid.

Trigger: Eventarc, google.cloud.storage.object.v1.finalized on the upload bucket.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from codetune import events
from codetune.config import Settings
from codetune.dataset import DatasetRole, validate_stream
from codetune.logs import Logger, correlation_id
from codetune.messages import DatasetValidated
from codetune.pubsub import Publisher
from codetune.records import Stage, advance, record_name, report_name
from codetune.storage import Storage
from codetune.tuning.manifest import DATASET_SUFFIX, EVALUATION_SUFFIX

LOG = Logger("validate")
storage = Storage()
publisher = Publisher()


@functions_framework.cloud_event
def validate(event: CloudEvent) -> None:
    settings = Settings.from_environment()
    try:
        obj = events.storage_object(event["type"], event.get_data())
    except events.EventError as fault:
        LOG.error("unreadable event acknowledged and dropped", error=str(fault))
        return
    if not obj.name.startswith(settings.upload_prefix) or not obj.name.endswith(DATASET_SUFFIX):
        LOG.info("not a dataset upload: ignored", object=obj.uri)  # reports, manifests, records
        return
    log = LOG.bind(correlation_id(obj.uri, obj.generation))
    live = storage.current(obj.bucket, obj.name)
    if live is None or str(live.generation) != obj.generation:
        log.info(
            "stale event: a newer version replaced this one",
            object=obj.uri,
            generation=obj.generation,
        )
        return
    role = DatasetRole.EVALUATION if obj.name.endswith(EVALUATION_SUFFIX) else DatasetRole.TRAINING
    log.info("validating dataset", dataset=obj.uri, generation=obj.generation, role=str(role))
    with storage.open_dataset(obj.bucket, obj.name, obj.generation) as stream:
        report = validate_stream(stream, obj.uri, role=role)
    summary = report.to_dict()
    report_object = report_name(obj.name)
    storage.write_json(obj.bucket, report_object, {**summary, "generation": obj.generation})
    stage = Stage.VALIDATED if report.valid else Stage.REJECTED
    storage.update_json(
        obj.bucket,
        record_name(settings.system_prefix, obj.name, obj.generation),
        lambda current: advance(
            current, stage, "validate",
            dataset=obj.uri, generation=obj.generation, correlation_id=log.correlation,
            kind=summary["kind"], role=str(role), examples=report.examples,
            report=f"gs://{obj.bucket}/{report_object}",
            first_errors=summary["errors"][:5] if not report.valid else None,
        ),
    )  # fmt: skip
    counts = summary["stats"]["findings"]
    if not report.valid:
        log.error(
            "dataset rejected", dataset=obj.uri, errors=counts["errors"], report=report_object
        )
        return
    assert report.kind is not None  # a valid dataset has examples, hence a kind
    message = DatasetValidated(
        obj.bucket, obj.name, obj.generation, report.kind, role, report.examples,
        f"gs://{obj.bucket}/{report_object}", log.correlation or "", live.metadata or {},
    )  # fmt: skip
    data, attributes = message.encode()
    message_id = publisher.publish(settings.validated_topic_path, data, attributes)
    log.info("dataset validated", dataset=obj.uri, kind=str(report.kind), examples=report.examples,
             warnings=counts["warnings"], message_id=message_id)  # fmt: skip
