"""The events the functions receive, as functions-framework hands them over (CloudEvents).

- validate: `google.cloud.storage.object.v1.finalized`, data = the Cloud Storage object
  resource (storage.v1 Object: bucket, name, generation as a string, metadata).
- tune and status: `google.cloud.pubsub.topic.v1.messagePublished`, data =
  {"message": {"data": base64, "attributes": {...}, "messageId": ...}, "subscription": ...}.
  For status the message data is one Cloud Logging LogEntry (a log sink's export).
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import orjson

from codetune.exceptions import EventError

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


class StorageObject(msgspec.Struct, frozen=True):
    bucket: str
    name: str
    generation: str
    metadata: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


class PubsubMessage(msgspec.Struct, frozen=True):
    data: bytes
    attributes: dict[str, str]
    message_id: str


class PipelineJobEvent(msgspec.Struct, frozen=True):
    project: str
    location: str
    job_id: str
    state: str | None  # what the log entry says; the job itself is re-read

    @property
    def job_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/pipelineJobs/{self.job_id}"


def storage_object(event_type: str, data: Any) -> StorageObject:
    if event_type != STORAGE_FINALIZED:
        raise EventError(f"expected {STORAGE_FINALIZED}, got {event_type}")
    if not isinstance(data, dict) or not data.get("bucket") or not data.get("name"):
        raise EventError("the event's data is not a Cloud Storage object")
    return StorageObject(
        bucket=str(data["bucket"]),
        name=str(data["name"]),
        generation=str(data.get("generation", "")),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def pubsub_message(event_type: str, data: Any) -> PubsubMessage:
    if event_type != PUBSUB_PUBLISHED:
        raise EventError(f"expected {PUBSUB_PUBLISHED}, got {event_type}")
    try:
        message = data["message"]
        return PubsubMessage(
            data=base64.b64decode(message.get("data") or b""),
            attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
            message_id=str(message.get("messageId") or message.get("message_id") or ""),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as fault:
        raise EventError(f"not a Pub/Sub push message: {fault}") from fault


def pipeline_job_event(message: PubsubMessage) -> PipelineJobEvent:
    """The job a pipeline_job_events LogEntry is about (Vertex AI Pipelines' LogEntry: resource.labels, logName; docs/chain.md)."""
    try:
        entry = orjson.loads(message.data)
        resource = entry["resource"]
        if resource.get("type") != "aiplatform.googleapis.com/PipelineJob":
            raise EventError(f"not a PipelineJob log entry: {resource.get('type')!r}")
        labels = resource["labels"]
        project = entry["logName"].split("/")[1]
        payload = entry.get("jsonPayload") or {}
        return PipelineJobEvent(
            project=str(project),
            location=str(labels["location"]),
            job_id=str(labels["pipeline_job_id"]),
            state=payload.get("state"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, IndexError) as fault:
        raise EventError(f"not a pipeline job LogEntry: {fault}") from fault
