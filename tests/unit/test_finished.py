"""The completion topic: one "dataset finished" message per dataset version that ends, in the
published schema (docs/finished.schema.json), with a stable `finished_id`, published once in
practice even when status, the sweep and redeliveries all see the end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import orjson
import pytest

from codetune.app.finished import Announcer, announce
from codetune.app.reconcile import reconcile
from codetune.app.status import job_event, sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.app.validate import Validation, validate_upload
from codetune.state import RecordStore, Stage
from tests.support import dataset, generation, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import (
    BUCKET,
    ENVIRON,
    LEGACY,
    LOG,
    SETTINGS,
    later,
    submitted,
    upload,
    validated,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "finished.schema.json").read_text()
)


def finished(publisher: MemoryPublisher) -> list[tuple[dict[str, Any], dict[str, str]]]:
    out = []
    for topic, data, attributes in publisher.messages:
        if topic == SETTINGS.finished_topic_path:
            body = orjson.loads(data)
            jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
            out.append((body, attributes))
    return out


def store(storage: MemoryStorage) -> RecordStore:
    return RecordStore.of(storage, SETTINGS)


def test_a_rejected_dataset_is_announced_with_its_first_errors() -> None:
    storage, publisher = MemoryStorage(), MemoryPublisher()
    obj = upload(storage, "incoming/bad.jsonl", dataset([generation(1, output_text="")] * 12))
    assert (
        validate_upload(
            obj, storage, publisher, SETTINGS, LOG, "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        )
        is Validation.REJECTED
    )
    [(body, attributes)] = finished(publisher)
    assert body["stage"] == "REJECTED" and body["error"]["first_errors"][0]["rule"] == "S-1"
    assert attributes["type"] == "codetune.dataset.finished" and attributes["version"] == "1"
    assert (
        attributes["finished_id"] == f"gs://{BUCKET}/incoming/bad.jsonl#{obj.generation}/REJECTED"
    )
    assert attributes["traceparent"].startswith("00-aaaa")  # the upload's trace, to the end


def test_a_succeeded_job_is_announced_once_whoever_sees_it_end() -> None:
    storage, publisher, vertex = MemoryStorage(), MemoryPublisher(), FakeVertex()
    announcer = Announcer(publisher, SETTINGS)
    submitted(storage, "incoming/ok.jsonl", vertex, **LEGACY)
    [pointer] = store(storage).open_jobs(lambda name, fault: None)
    job, job_id = pointer.job, pointer.job_id
    model = {"output:model_resource_name": "projects/p/locations/l/models/9"}
    detail = {"taskDetails": [{"taskName": "upload-llm-model", "execution": {"metadata": model}}]}
    vertex.finish(job, "PIPELINE_STATE_SUCCEEDED", jobDetail=detail)
    for _ in range(3):  # the job event delivered three times
        job_event(job_id, store(storage), vertex, LOG, announcer)
    sweep(store(storage), vertex, LOG, announcer)
    reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(10))
    [(body, attributes)] = finished(publisher)
    assert body["stage"] == "SUCCEEDED" and body["tuned_model"] and body["job"] == job
    assert body["tokens"]["per_epoch"] > 0 and body["base_model"] == "code-bison@002"
    record = store(storage).record("incoming/ok.jsonl", attributes["generation"])
    assert record is not None and record.announced and record.announced.message_id


def test_a_job_refused_before_it_exists_is_announced_as_failed() -> None:
    storage, publisher = MemoryStorage(), MemoryPublisher()
    message = validated(storage, "incoming/f.jsonl", dataset(generation_dataset(40)))
    environ = {**ENVIRON, "CODETUNE_MAX_TRAINING_TOKENS": "10"}
    announcer = Announcer(publisher, SETTINGS)
    assert (
        tune_dataset(message, storage, FakeVertex(), SETTINGS, environ, LOG, announcer)
        is Tuning.REJECTED
    )
    [(body, _)] = finished(publisher)
    assert body["stage"] == "FAILED" and body["error"]["problems"][0]["rule"] == "budget"


class Unavailable(MemoryPublisher):
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        raise ConnectionError("Pub/Sub is down")


def test_a_failed_publish_frees_the_claim_for_the_next_announcer() -> None:
    storage = MemoryStorage()
    obj = upload(storage, "incoming/x.jsonl", dataset([generation(1, output_text="")] * 12))
    with pytest.raises(ConnectionError):
        validate_upload(obj, storage, Unavailable(), SETTINGS, LOG, None, ENVIRON)
    record = store(storage).record("incoming/x.jsonl", obj.generation)
    assert record is not None and record.state is Stage.REJECTED and record.announced is None
    publisher = MemoryPublisher()
    result = reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(10))
    assert result.finished == 1 and len(finished(publisher)) == 1


def test_a_claim_left_by_an_announcer_that_died_is_taken_over_after_the_timeout() -> None:
    storage, publisher = MemoryStorage(), MemoryPublisher()
    obj = upload(storage, "incoming/d.jsonl", dataset([generation(1, output_text="")] * 12))
    validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    old = (datetime.now(UTC) - timedelta(seconds=SETTINGS.claim_timeout_seconds + 5)).isoformat()
    fresh = datetime.now(UTC).isoformat()
    for claimed, expected in ((fresh, None), (old, "1")):
        store(storage).update(
            "incoming/d.jsonl",
            obj.generation,
            lambda r, c=claimed: msgspec.structs.replace(r, announced={"claimed": c}),  # type: ignore[arg-type, misc]
        )
        assert (
            announce("incoming/d.jsonl", obj.generation, store(storage), publisher, SETTINGS, LOG)
            == expected
        )


def test_the_sweep_leaves_old_history_unannounced() -> None:
    storage = MemoryStorage()
    obj = upload(storage, "incoming/h.jsonl", dataset([generation(1, output_text="")] * 12))
    with pytest.raises(ConnectionError):
        validate_upload(obj, storage, Unavailable(), SETTINGS, LOG, None, ENVIRON)
    publisher = MemoryPublisher()
    result = reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(3 * 24 * 60))
    assert result.finished == 0 and finished(publisher) == []


def test_a_late_write_of_another_field_never_loses_the_announcement() -> None:
    """tune's late SUBMITTED merges a field into a record the sweep just ended and is
    announcing: the announcement's claim and message id still land, so no second message."""
    from codetune.state.store import RecordClaims

    storage, publisher = MemoryStorage(), MemoryPublisher()
    obj = upload(storage, "incoming/late.jsonl", dataset([generation(1, output_text="")] * 12))
    records = store(storage)
    records.advance(obj.name, obj.generation, Stage.REJECTED, "validate", dataset=obj.uri)
    real = storage.write_json

    def merged_first(bucket: str, name: str, document: Any, *args: Any, **kwargs: Any) -> bool:
        if document.get("announced", {}).get("message_id") and not merged:
            merged.append(1)  # the late write lands between the claim's read and its write
            records.update(
                obj.name, obj.generation, lambda r: msgspec.structs.replace(r, examples=12)
            )
        return real(bucket, name, document, *args, **kwargs)

    merged: list[int] = []
    storage.write_json = merged_first  # type: ignore[method-assign]
    assert announce(obj.name, obj.generation, records, publisher, SETTINGS, LOG) is not None
    record = records.record(obj.name, obj.generation)
    assert merged and record is not None and record.examples == 12
    assert (record.announced.message_id if record.announced else None) == "1"
    claims = RecordClaims(records, obj.name, obj.generation)
    assert claims.read()[0] is not None and claims.read()[0].result == "1"  # type: ignore[union-attr]
    assert announce(obj.name, obj.generation, records, publisher, SETTINGS, LOG) is None
    assert len(publisher.messages) == 1
