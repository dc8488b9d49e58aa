"""The "dataset validated" message, version 1: what validate publishes and tune consumes.

Data (JSON):
    {"version": 1, "dataset": "gs://bucket/incoming/train.jsonl", "bucket": "bucket",
     "name": "incoming/train.jsonl", "generation": "1732700000000001", "kind": "generation",
     "format": "seed", "role": "training", "examples": 1200, "report": "gs://bucket/incoming/train.jsonl.report.json",
     "correlation_id": "ct-…", "metadata": {"codetune-train_steps": "500"}}
Attributes: type=codetune.dataset.validated, version=1, correlation_id, dataset, generation,
and `traceparent` (W3C) when the upload's event carried one, so tune's logs join its trace.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole
from codetune.exceptions import MessageError

MESSAGE_TYPE = "codetune.dataset.validated"
MESSAGE_VERSION = 1


class DatasetValidated(msgspec.Struct, frozen=True):
    bucket: str
    name: str
    generation: str
    kind: DatasetKind
    role: DatasetRole
    examples: int
    report: str
    correlation_id: str
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    traceparent: str | None = None
    format: DatasetFormat = DatasetFormat.SEED

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    def encode(self) -> tuple[bytes, dict[str, str]]:
        data = {
            "version": MESSAGE_VERSION,
            "dataset": self.uri,
            "bucket": self.bucket,
            "name": self.name,
            "generation": self.generation,
            "kind": str(self.kind),
            "format": str(self.format),
            "role": str(self.role),
            "examples": self.examples,
            "report": self.report,
            "correlation_id": self.correlation_id,
            "metadata": self.metadata,
        }
        attributes = {
            "type": MESSAGE_TYPE,
            "version": str(MESSAGE_VERSION),
            "correlation_id": self.correlation_id,
            "dataset": self.uri,
            "generation": self.generation,
        }
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
        return orjson.dumps(data), attributes

    @classmethod
    def decode(cls, data: bytes, attributes: dict[str, str]) -> DatasetValidated:
        if attributes.get("type") != MESSAGE_TYPE:
            raise MessageError(f"not a {MESSAGE_TYPE} message: type {attributes.get('type')!r}")
        try:
            body: dict[str, Any] = orjson.loads(data)
            if body.get("version") != MESSAGE_VERSION:
                raise MessageError(
                    f"message version {body.get('version')!r}; this reads {MESSAGE_VERSION}"
                )
            return cls(
                bucket=str(body["bucket"]),
                name=str(body["name"]),
                generation=str(body["generation"]),
                kind=DatasetKind(body["kind"]),
                format=DatasetFormat(body.get("format", DatasetFormat.SEED)),
                role=DatasetRole(body["role"]),
                examples=int(body["examples"]),
                report=str(body["report"]),
                correlation_id=str(body["correlation_id"]),
                metadata={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
                traceparent=attributes.get("traceparent"),
            )
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError) as fault:
            if isinstance(fault, MessageError):
                raise
            raise MessageError(f"malformed {MESSAGE_TYPE} message: {fault}") from fault
