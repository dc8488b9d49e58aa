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

from typing import Protocol, TypeVar

import msgspec

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
        body = _Body(
            version=MESSAGE_VERSION,
            dataset=self.uri,
            bucket=self.bucket,
            name=self.name,
            generation=self.generation,
            kind=self.kind,
            role=self.role,
            examples=self.examples,
            report=self.report,
            correlation_id=self.correlation_id,
            metadata=self.metadata,
            format=self.format,
        )
        attributes = {
            "type": MESSAGE_TYPE,
            "version": str(MESSAGE_VERSION),
            "correlation_id": self.correlation_id,
            "dataset": self.uri,
            "generation": self.generation,
        }
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
        return _ENCODER.encode(body), attributes

    @classmethod
    def decode(cls, data: bytes, attributes: dict[str, str]) -> DatasetValidated:
        if attributes.get("type") != MESSAGE_TYPE:
            raise MessageError(f"not a {MESSAGE_TYPE} message: type {attributes.get('type')!r}")
        try:
            version = msgspec.json.decode(data, type=_Versioned).version
        except msgspec.DecodeError as fault:
            raise MessageError(f"malformed {MESSAGE_TYPE} message: {fault}") from fault
        if version != MESSAGE_VERSION:
            raise MessageError(f"message version {version!r}; this reads {MESSAGE_VERSION}")
        try:
            body = _DECODER.decode(data)
        except msgspec.DecodeError as fault:
            raise MessageError(f"malformed {MESSAGE_TYPE} message: {fault}") from fault
        return cls(
            body.bucket,
            body.name,
            body.generation,
            body.kind,
            body.role,
            body.examples,
            body.report,
            body.correlation_id,
            body.metadata,
            attributes.get("traceparent"),
            body.format,
        )


class _Versioned(msgspec.Struct):
    version: int | None = None


class _Body(msgspec.Struct, frozen=True):
    """The message's data, as it is on the wire (typed: a field of the wrong type is refused)."""

    version: int
    dataset: str
    bucket: str
    name: str
    generation: str
    kind: DatasetKind
    role: DatasetRole
    examples: int
    report: str
    correlation_id: str
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    format: DatasetFormat = DatasetFormat.SEED  # messages of before the formats: the seed's


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Body)


CANCEL_TYPE = "codetune.dataset.cancel"
CANCEL_VERSION = 1


class CancelRequested(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`codetune cancel` (or validate, superseding a version): stop this version's job, or
    make sure none is created. On the "dataset validated" topic, so that tune, which creates
    jobs, is the one that stops them; every field is checked before use."""

    bucket: str
    name: str
    generation: str
    by: str  # who asked, as the command line reports it
    time: str
    reason: str = "asked"
    version: int = CANCEL_VERSION

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    def encode(self) -> tuple[bytes, dict[str, str]]:
        attributes = {
            "type": CANCEL_TYPE,
            "version": str(CANCEL_VERSION),
            "dataset": self.uri,
            "generation": self.generation,
        }
        return msgspec.json.encode(self), attributes

    @classmethod
    def decode(cls, data: bytes, attributes: dict[str, str]) -> CancelRequested:
        return _request(cls, CANCEL_TYPE, CANCEL_VERSION, data, attributes)


EVALUATE_TYPE = "codetune.dataset.evaluate"
EVALUATE_VERSION = 1


class EvaluationRequested(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Evaluate this version's tuned model (its record says which, and on what): published by
    status and the sweep when the job succeeded, on the evaluation topic. Only a nudge: the
    record alone decides what is sent, and the bucket must be the deployment's."""

    bucket: str
    name: str
    generation: str
    correlation_id: str
    traceparent: str | None = None
    version: int = EVALUATE_VERSION

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    def encode(self) -> tuple[bytes, dict[str, str]]:
        attributes = {
            "type": EVALUATE_TYPE,
            "version": str(EVALUATE_VERSION),
            "dataset": self.uri,
            "generation": self.generation,
            "correlation_id": self.correlation_id,
        }
        if self.traceparent:
            attributes["traceparent"] = self.traceparent
        return msgspec.json.encode(self), attributes

    @classmethod
    def decode(cls, data: bytes, attributes: dict[str, str]) -> EvaluationRequested:
        return _request(cls, EVALUATE_TYPE, EVALUATE_VERSION, data, attributes)


class _Request(Protocol):
    @property
    def version(self) -> int: ...
    @property
    def generation(self) -> str: ...


R = TypeVar("R", bound=_Request)


def _request(cls: type[R], kind: str, version: int, data: bytes, attributes: dict[str, str]) -> R:
    """A request message of `kind` (its `type` attribute) at `version`, every field typed;
    MessageError for anything else."""
    if attributes.get("type") != kind:
        raise MessageError(f"not a {kind} message: type {attributes.get('type')!r}")
    try:
        request = msgspec.json.decode(data, type=cls)
    except msgspec.DecodeError as fault:
        raise MessageError(f"malformed {kind} message: {fault}") from fault
    if request.version != version or not request.generation.isdigit():
        raise MessageError(f"unreadable {kind} message (version, generation)")
    return request
