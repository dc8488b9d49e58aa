"""The "dataset finished" message, version 1: one for every dataset version that reaches an end.

Published on the deployment's completion topic (`codetune-finished`, CODETUNE_FINISHED_TOPIC)
when a dataset is REJECTED, FAILED, CANCELLED or SUCCEEDED, for systems downstream to act on
(deploy the tuned model, tell a team its data was refused). JSON Schema: docs/finished.schema.json.

Attributes: type=codetune.dataset.finished, version=1, dataset, generation, stage,
correlation_id, `finished_id` (dataset#generation/stage: the same for every copy of one end, so
a subscriber drops repeats by it), and `traceparent` (W3C) when the upload carried one.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from codetune.state import Record

MESSAGE_TYPE = "codetune.dataset.finished"
MESSAGE_VERSION = 1


class DatasetFinished(msgspec.Struct, frozen=True):
    """What a subscriber learns of one dataset version's end, taken from its record."""

    record: Record

    @property
    def finished_id(self) -> str:
        return f"{self.record.dataset}#{self.record.generation}/{self.record.state}"

    def body(self) -> dict[str, Any]:
        r = self.record
        ended = next((step.time for step in reversed(r.history) if step.state is r.state), None)
        tuned = r.tuned_model
        return {
            "version": MESSAGE_VERSION,
            "dataset": r.dataset,
            "generation": r.generation,
            "stage": str(r.state),
            "finished_at": ended,
            "role": r.role,
            "kind": r.kind,
            "examples": r.examples,
            "report": r.report,
            "base_model": r.base_model,
            "backend": r.backend,
            "job": r.job.name if r.job else None,
            "tuned_model": tuned.model if tuned else None,
            "endpoint": tuned.endpoint if tuned else None,
            "tokens": msgspec.to_builtins(r.tokens),
            "cost": (r.derived or {}).get("cost"),
            "data_stats": msgspec.to_builtins(r.data_stats),
            "error": msgspec.to_builtins(r.error)
            or ({"first_errors": msgspec.to_builtins(r.first_errors)} if r.first_errors else None),
            "evaluation": _evaluation(r),
            "correlation_id": r.correlation_id,
        }

    def encode(self) -> tuple[bytes, dict[str, str]]:
        r = self.record
        attributes = {
            "type": MESSAGE_TYPE,
            "version": str(MESSAGE_VERSION),
            "dataset": r.dataset or "",
            "generation": r.generation or "",
            "stage": str(r.state),
            "correlation_id": r.correlation_id or "",
            "finished_id": self.finished_id,
        }
        if r.traceparent:
            attributes["traceparent"] = r.traceparent
        return orjson.dumps(self.body()), attributes


def _evaluation(record: Record) -> dict[str, Any] | None:
    """The verdict's summary (docs/evaluation.md): per metric base, tuned, the difference, its
    interval and the counts; the metrics worse beyond the interval; the page."""
    evaluation = record.evaluation
    if evaluation is None or evaluation.state == "planned":
        return None
    verdict = evaluation.verdict
    return {
        "state": str(evaluation.state),
        "examples": verdict.examples if verdict else evaluation.answered,
        "worse": list(evaluation.worse),
        "metrics": msgspec.to_builtins(verdict.metrics) if verdict else [],
        "confidence": verdict.confidence if verdict else None,
        "page": evaluation.page,
        "note": evaluation.note,
    }
