"""The application layer with in-memory collaborators: each step's whole story, in
milliseconds. The emulator end-to-end tests (tests/integration) run the same steps for real."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import orjson
import pytest

from codetune.app.status import job_event, sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.app.validate import Validation, validate_upload
from codetune.config import Settings
from codetune.dataset import DatasetKind, DatasetRole, SecretSeverity, code_bison, validate_stream
from codetune.events import StorageObject
from codetune.exceptions import PermanentVertexError
from codetune.logs import Logger
from codetune.messages import DatasetValidated
from codetune.state import RecordStore, Stage, TunedModel
from codetune.state.records import Failure
from tests.support import chat_dataset, dataset, generation, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage

BUCKET = "drop"
SETTINGS = Settings(project="acme-ml", bucket=BUCKET)
STATE = SETTINGS.state  # the state bucket: what only the functions write
ENVIRON = {
    "CODETUNE_PROJECT": "acme-ml",
    "CODETUNE_PIPELINE_REGION": "us-central1",
    "CODETUNE_OUTPUT_DIR": f"gs://{BUCKET}/_codetune/pipeline",
}
LOG = Logger("test")
LEGACY = {"codetune-large_model_reference": "code-bison@002"}


def no_bad(name: str, fault: Exception) -> None:
    raise AssertionError(f"{name}: {fault}")


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def upload(
    storage: MemoryStorage, name: str, data: bytes, metadata: dict[str, str] | None = None
) -> StorageObject:
    generation_id = storage.put(BUCKET, name, data, metadata)
    return StorageObject(BUCKET, name, generation_id, metadata or {})


def validated(
    storage: MemoryStorage, name: str, data: bytes, metadata: dict[str, str] | None = None
) -> DatasetValidated:
    """Upload and validate; the message validate published."""
    publisher = MemoryPublisher()
    obj = upload(storage, name, data, metadata)
    assert (
        validate_upload(obj, storage, publisher, SETTINGS, LOG, None, ENVIRON)
        is Validation.VALIDATED
    )
    [(_, body, attributes)] = publisher.messages
    return DatasetValidated.decode(body, attributes)


def store(storage: MemoryStorage) -> RecordStore:
    return RecordStore.of(storage, SETTINGS)


# --- validate ---------------------------------------------------------------------------------
def test_a_valid_dataset_is_reported_recorded_and_announced(storage: MemoryStorage) -> None:
    publisher = MemoryPublisher()
    obj = upload(
        storage, "incoming/a.jsonl", dataset(generation_dataset(12)), {"codetune-epoch_count": "2"}
    )
    assert (
        validate_upload(obj, storage, publisher, SETTINGS, LOG.bind("ct-1"), None, ENVIRON)
        is Validation.VALIDATED
    )
    report, _ = storage.read_json(BUCKET, "incoming/a.jsonl.report.json")
    assert report is not None and report["valid"] and report["generation"] == obj.generation
    record = store(storage).record("incoming/a.jsonl", obj.generation)
    assert record is not None and (record.state, record.examples, record.role) == (
        Stage.VALIDATED,
        12,
        "training",
    )
    [(topic, body, attributes)] = publisher.messages
    message = DatasetValidated.decode(body, attributes)
    assert topic == "projects/acme-ml/topics/dataset-validated"
    assert (message.generation, message.metadata, message.correlation_id) == (
        obj.generation,
        {"codetune-epoch_count": "2"},
        "ct-1",
    )


def test_the_uploads_trace_travels_with_the_message(storage: MemoryStorage) -> None:
    publisher = MemoryPublisher()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    obj = upload(storage, "incoming/t.jsonl", dataset(generation_dataset(12)))
    validate_upload(obj, storage, publisher, SETTINGS, LOG, traceparent, ENVIRON)
    [(_, body, attributes)] = publisher.messages
    assert attributes["traceparent"] == traceparent
    assert DatasetValidated.decode(body, attributes).traceparent == traceparent


def test_an_invalid_dataset_is_rejected_and_not_announced(storage: MemoryStorage) -> None:
    publisher = MemoryPublisher()
    obj = upload(storage, "incoming/bad.jsonl", dataset([generation(1, output_text="")] * 3))
    assert (
        validate_upload(obj, storage, publisher, SETTINGS, LOG, None, ENVIRON)
        is Validation.REJECTED
    )
    record = store(storage).record("incoming/bad.jsonl", obj.generation)
    assert record is not None and record.state is Stage.REJECTED and record.first_errors
    # Nothing for tune; the end is told on the completion topic.
    [(topic, _, attributes)] = publisher.messages
    assert topic == SETTINGS.finished_topic_path and attributes["stage"] == "REJECTED"


def test_an_invalid_datasets_report_also_names_its_parameters_problems(
    storage: MemoryStorage,
) -> None:
    """Both to fix at once; but no plan of examples still to be fixed (no budget, no share)."""
    manifest = {"parameters": {"epoch_count": 0}}
    storage.put(BUCKET, "incoming/both.tuning.json", orjson.dumps(manifest))
    obj = upload(storage, "incoming/both.jsonl", dataset([generation(1, output_text="")] * 12))
    environ = {**ENVIRON, "CODETUNE_MAX_TRAINING_TOKENS": "1"}
    outcome = validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, environ)
    assert outcome is Validation.REJECTED
    report, _ = storage.read_json(BUCKET, "incoming/both.jsonl.report.json")
    assert report is not None
    found = [(e["rule"], e["field"], e["message"].partition(":")[0]) for e in report["errors"]]
    assert ("tuning", "parameters.epoch_count", "range") in found
    assert not any(message == "budget" for _, _, message in found)
    assert any(rule == "S-1" for rule, _, _ in found)


def test_a_dataset_not_read_to_its_end_in_time_is_rejected_with_a_report(
    storage: MemoryStorage,
) -> None:
    """Rule `time-limit`: a validation that would outlive the function ends, with a report and
    a record, instead of being killed with neither; what was not checked is never tuned."""
    settings = msgspec.structs.replace(SETTINGS, validation_seconds=1e-9)  # past at once
    publisher = MemoryPublisher()
    obj = upload(storage, "incoming/huge.jsonl", dataset(generation_dataset(12)))
    assert (
        validate_upload(obj, storage, publisher, settings, LOG, None, ENVIRON)
        is Validation.REJECTED
    )
    record = store(storage).record(obj.name, obj.generation)
    assert record is not None and record.state is Stage.REJECTED and record.first_errors
    assert [e.rule for e in record.first_errors] == ["time-limit"]
    report, _ = storage.read_json(BUCKET, "incoming/huge.jsonl.report.json")
    assert report is not None and report["stats"]["complete"] is False
    assert [m for m in publisher.messages if m[0] == settings.validated_topic_path] == []


def test_a_stale_generation_and_non_datasets_are_left_alone(storage: MemoryStorage) -> None:
    publisher = MemoryPublisher()
    old = upload(storage, "incoming/a.jsonl", dataset(generation_dataset(12)))
    upload(storage, "incoming/a.jsonl", dataset(generation_dataset(13)))
    assert (
        validate_upload(old, storage, publisher, SETTINGS, LOG, None, ENVIRON) is Validation.STALE
    )
    assert store(storage).record("incoming/a.jsonl", old.generation) is None
    for name in (
        "incoming/a.jsonl.report.json",
        "_codetune/records/incoming/a.jsonl/1.json",
        "other/a.jsonl",
    ):
        assert (
            validate_upload(
                upload(storage, name, b"{}"), storage, publisher, SETTINGS, LOG, None, ENVIRON
            )
            is Validation.IGNORED
        )
    assert publisher.messages == []


# --- tune -------------------------------------------------------------------------------------
def test_a_pipeline_job_is_pointed_to_before_it_exists_and_submitted_once(
    storage: MemoryStorage,
) -> None:
    message = validated(storage, "incoming/a.jsonl", dataset(generation_dataset(12)), LEGACY)
    records = store(storage)

    def pointer_first(name: str) -> None:
        assert records.pointer(name.rpartition("/")[2]) is not None, "created before its pointer"

    vertex = FakeVertex(before_create=pointer_first)
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    assert (
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.ALREADY_SUBMITTED
    )
    assert vertex.creates == 1
    record = records.record("incoming/a.jsonl", message.generation)
    assert record is not None and record.state is Stage.SUBMITTED
    assert (record.backend, record.base_model) == ("pipeline", "code-bison@002")
    [opened] = records.open_jobs(no_bad)
    assert opened.job == record.job.name if record.job else False
    assert opened.generation == message.generation


def test_a_gemini_create_that_timed_out_after_committing_is_found_not_repeated(
    storage: MemoryStorage,
) -> None:
    from codetune.exceptions import RetryableVertexError

    message = validated(storage, "incoming/t.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    vertex.ambiguous = 1
    with pytest.raises(RetryableVertexError):  # the delivery fails and Pub/Sub delivers again
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    assert (
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.ALREADY_SUBMITTED
    )
    assert vertex.creates == 1
    record = store(storage).record("incoming/t.jsonl", message.generation)
    assert record is not None and record.state is Stage.SUBMITTED


def test_two_deliveries_taking_over_a_stale_claim_create_one_job(storage: MemoryStorage) -> None:
    from codetune.exceptions import RetryableVertexError
    from codetune.state import Claim

    message = validated(storage, "incoming/r.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    vertex.ambiguous = 1  # a first delivery claimed, maybe created nothing, and died
    with pytest.raises(RetryableVertexError):
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    vertex.jobs.clear()  # ...it had created nothing after all
    records = store(storage)
    [name] = storage.list_names(STATE, "_codetune/claims/")
    request = name.rpartition("/")[2].removesuffix(".json")
    claim, generation = records.claim(request)
    assert claim is not None and claim.job is None
    records.write_claim(Claim(request, claim.since - 3600), if_generation_match=generation)
    outcomes: list[object] = []

    def second_delivery() -> None:  # arrives while the first is between its read and its write
        vertex.on_find = lambda: None
        outcomes.append(tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG))

    vertex.on_find = second_delivery
    with pytest.raises(RetryableVertexError, match="took over"):
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    assert outcomes == [Tuning.SUBMITTED] and len(vertex.jobs) == 1


def test_tune_acts_only_on_a_validated_version_of_the_deployments_bucket(
    storage: MemoryStorage,
) -> None:
    vertex = FakeVertex()
    rejected = upload(storage, "incoming/x.jsonl", dataset([generation(1, output_text="")] * 12))
    validate_upload(rejected, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    forged = DatasetValidated(
        BUCKET,
        rejected.name,
        rejected.generation,
        DatasetKind.GENERATION,
        DatasetRole.TRAINING,
        12,
        "",
        "ct",
    )
    assert tune_dataset(forged, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.DROPPED
    unknown = DatasetValidated(
        BUCKET,
        "incoming/never.jsonl",
        "7",
        DatasetKind.GENERATION,
        DatasetRole.TRAINING,
        12,
        "",
        "ct",
    )
    assert tune_dataset(unknown, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.DROPPED
    message = validated(storage, "incoming/ok.jsonl", dataset(generation_dataset(12)))
    elsewhere = DatasetValidated(
        "attacker",
        message.name,
        message.generation,
        message.kind,
        message.role,
        message.examples,
        "",
        "ct",
    )
    assert tune_dataset(elsewhere, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.DROPPED
    assert vertex.creates == 0


def test_the_settings_of_the_validated_version_are_frozen(storage: MemoryStorage) -> None:
    """Editing the manifest (or the metadata) after validation changes nothing for that upload:
    a redelivery finds the same job instead of planning a second one."""
    storage.put(BUCKET, "incoming/f.tuning.json", orjson.dumps({"parameters": {"epoch_count": 2}}))
    message = validated(storage, "incoming/f.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    storage.put(BUCKET, "incoming/f.tuning.json", orjson.dumps({"parameters": {"epoch_count": 9}}))
    tampered = DatasetValidated(
        message.bucket,
        message.name,
        message.generation,
        message.kind,
        message.role,
        message.examples,
        message.report,
        message.correlation_id,
        {"codetune-epoch_count": "5"},
    )
    assert (
        tune_dataset(tampered, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.ALREADY_SUBMITTED
    )
    [job] = vertex.jobs.values()
    assert job["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "2"


def test_a_submission_recorded_after_a_later_state_still_adds_what_tune_knows(
    storage: MemoryStorage,
) -> None:
    """status's QUEUED can land before tune's SUBMITTED write; the record keeps both."""
    message = validated(storage, "incoming/q.jsonl", dataset(generation_dataset(12)), LEGACY)
    records = store(storage)

    def queued_first(name: str) -> None:
        records.advance(message.name, message.generation, Stage.QUEUED, "status")

    vertex = FakeVertex(before_create=queued_first)
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    record = records.record(message.name, message.generation)
    assert record is not None and record.state is Stage.QUEUED
    assert record.parameters and record.derived and record.warnings and record.job
    assert [step.state for step in record.history] == ["VALIDATED", "QUEUED"]


def test_a_job_reads_exactly_the_version_validated_whatever_is_uploaded_after(
    storage: MemoryStorage,
) -> None:
    v1 = dataset(generation_dataset(12))
    v2 = dataset([generation(1, output_text="")] * 12)  # invalid, same name
    for name, metadata in (("incoming/p.jsonl", LEGACY), ("incoming/g.jsonl", None)):
        message = validated(storage, name, v1, metadata)
        upload(storage, name, v2, metadata)
        vertex = FakeVertex()
        assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
        [job] = vertex.jobs.values()
        if "runtimeConfig" in job:  # the pipeline reads the pinned copy
            uri = job["runtimeConfig"]["parameterValues"]["dataset_uri"]
            assert storage.read_bytes(STATE, uri.removeprefix(f"gs://{STATE}/")) == v1
        else:  # Gemini reads the conversion of the pinned copy
            uri = job["supervisedTuningSpec"]["trainingDatasetUri"]
            converted = storage.read_bytes(STATE, uri.removeprefix(f"gs://{STATE}/"))
            assert converted is not None and len(converted.splitlines()) == 12
            assert b"return 0 plus" in converted  # v1's first example, not v2's


def test_a_version_replaced_while_it_was_validated_is_not_announced(
    storage: MemoryStorage,
) -> None:
    publisher = MemoryPublisher()
    obj = upload(storage, "incoming/race.jsonl", dataset(generation_dataset(12)))
    real_copy = storage.copy

    def replaced_first(
        bucket: str, name: str, generation: str, target_bucket: str, target: str
    ) -> str | None:
        storage.put(bucket, name, b"{}\n")  # a new upload lands before the copy
        return real_copy(bucket, name, generation, target_bucket, target)

    storage.copy = replaced_first  # type: ignore[method-assign]
    assert (
        validate_upload(obj, storage, publisher, SETTINGS, LOG, None, ENVIRON) is Validation.STALE
    )
    assert publisher.messages == []
    assert store(storage).record(obj.name, obj.generation) is None


def test_with_no_model_named_the_job_tunes_the_default_gemini_model(storage: MemoryStorage) -> None:
    message = validated(storage, "incoming/d.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs.values()
    assert job["baseModel"] == "gemini-3.5-flash"
    record = store(storage).record("incoming/d.jsonl", message.generation)
    assert record is not None and (record.backend, record.base_model) == (
        "gemini",
        "gemini-3.5-flash",
    )


def test_a_legacy_model_is_warned_about_in_the_log_and_the_record(
    storage: MemoryStorage, caplog: pytest.LogCaptureFixture
) -> None:
    message = validated(storage, "incoming/l.jsonl", dataset(generation_dataset(12)), LEGACY)
    assert tune_dataset(message, storage, FakeVertex(), SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    record = store(storage).record("incoming/l.jsonl", message.generation)
    assert record is not None and record.warnings
    assert "refuses new tuning jobs for it since 2024-10-09" in record.warnings[0]
    assert any(
        r.levelname == "WARNING" and "since 2024-10-09" in r.getMessage() for r in caplog.records
    )


def test_a_gemini_job_trains_on_the_converted_validated_version_once(
    storage: MemoryStorage,
) -> None:
    message = validated(
        storage,
        "incoming/g.jsonl",
        dataset(generation_dataset(12)),
        {"codetune-large_model_reference": "gemini-3.5-flash"},
    )
    records = store(storage)
    converted = records.converted_uri("incoming/g.jsonl", message.generation, "training")

    def converted_first(name: str) -> None:
        assert storage.read_bytes(STATE, converted.removeprefix(f"gs://{STATE}/")), (
            "no converted data"
        )

    vertex = FakeVertex(before_create=converted_first)
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    assert (
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.ALREADY_SUBMITTED
    )
    assert vertex.creates == 1
    [job] = vertex.jobs.values()
    assert job["supervisedTuningSpec"]["trainingDatasetUri"] == converted
    lines = storage.read_bytes(STATE, converted.removeprefix(f"gs://{STATE}/"))
    assert lines is not None and len(lines.splitlines()) == 12
    assert orjson.loads(lines.splitlines()[0])["contents"][1]["role"] == "model"
    pointer = records.pointer(job["name"].rpartition("/")[2])
    assert pointer is not None and pointer.backend == "gemini"


def test_an_openai_dataset_is_tuned_on_gemini_and_converted_for_the_legacy_pipeline(
    storage: MemoryStorage,
) -> None:
    from codetune.local.vertex_standin import GEMINI_EXAMPLE

    chats = [
        {
            "messages": [
                {"role": "system", "content": "You write Go."},
                {"role": "user", "content": f"Write the code in Go: f{i}"},
                {"role": "assistant", "content": f"func f{i}() {{}}"},
            ]
        }
        for i in range(12)
    ]
    data = dataset([orjson.dumps(c) for c in chats])
    message = validated(storage, "incoming/o.jsonl", data)
    assert message.format == "openai"
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs.values()
    converted = storage.read_bytes(
        STATE, job["supervisedTuningSpec"]["trainingDatasetUri"].removeprefix(f"gs://{STATE}/")
    )
    assert converted is not None
    examples = [orjson.loads(line) for line in converted.splitlines()]
    assert all(GEMINI_EXAMPLE.is_valid(e) for e in examples) and len(examples) == 12
    assert examples[0]["systemInstruction"]["parts"][0]["text"] == "You write Go."
    # The legacy pipeline tunes its seed version, converted before it is submitted.
    legacy_model = {"codetune-large_model_reference": "codechat-bison@002"}
    legacy = validated(storage, "incoming/ol.jsonl", data, legacy_model)
    pipeline = FakeVertex()
    assert tune_dataset(legacy, storage, pipeline, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = pipeline.jobs.values()
    seed_uri = job["runtimeConfig"]["parameterValues"]["dataset_uri"]
    assert seed_uri.endswith(f"{legacy.generation}/training.seed.jsonl")
    seed = storage.read_bytes(STATE, seed_uri.removeprefix(f"gs://{STATE}/"))
    assert seed is not None
    report = validate_stream(io.BytesIO(seed), seed_uri, rules=code_bison("codechat-bison@002"))
    assert report.valid and report.format == "seed" and report.examples == 12
    # What the seed format cannot say stops the job, naming the line and why.
    weighted = [*chats]
    weighted[6] = {
        "messages": [*chats[6]["messages"][:2], {**chats[6]["messages"][2], "weight": 0}]
    }
    refused = validated(
        storage, "incoming/ow.jsonl", dataset([orjson.dumps(c) for c in weighted]), legacy_model
    )
    assert tune_dataset(refused, storage, FakeVertex(), SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    record = store(storage).record("incoming/ow.jsonl", refused.generation)
    assert record is not None and record.error
    [problem] = record.error.problems
    assert problem.rule == "format"
    assert problem.message.startswith("line 7: messages[2].weight is 0")


def test_an_evaluation_dataset_that_was_not_validated_stops_the_job(storage: MemoryStorage) -> None:
    storage.put(BUCKET, "incoming/a.eval.jsonl", dataset(generation_dataset(12)))  # never validated
    storage.put(BUCKET, "incoming/a.tuning.json", orjson.dumps({"evaluation": "a.eval.jsonl"}))
    message = validated(storage, "incoming/a.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    assert vertex.creates == 0
    record = store(storage).record("incoming/a.jsonl", message.generation)
    assert record is not None and record.state is Stage.FAILED and record.error
    assert record.error.problems[0].parameter == "evaluation_data_uri"


def test_validate_applies_the_rules_of_the_model_the_dataset_will_be_tuned_on(
    storage: MemoryStorage,
) -> None:
    """300 evaluation examples: Gemini takes up to 5,000, code-bison 250 (S-5). The evaluation
    dataset's model is its training dataset's, from the manifest that pairs them."""
    publisher = MemoryPublisher()
    data = dataset(generation_dataset(300))
    gemini = upload(storage, "incoming/g.eval.jsonl", data)
    assert (
        validate_upload(gemini, storage, publisher, SETTINGS, LOG, None, ENVIRON)
        is Validation.VALIDATED
    )
    record = store(storage).record("incoming/g.eval.jsonl", gemini.generation)
    assert record is not None and record.base_model == "gemini-3.5-flash"
    manifest = {"parameters": {"large_model_reference": "code-bison@002"}}
    storage.put(BUCKET, "incoming/b.tuning.json", orjson.dumps(manifest))
    legacy = upload(storage, "incoming/b.eval.jsonl", data)
    assert (
        validate_upload(legacy, storage, publisher, SETTINGS, LOG, None, ENVIRON)
        is Validation.REJECTED
    )
    report, _ = storage.read_json(BUCKET, "incoming/b.eval.jsonl.report.json")
    assert report is not None and report["base_model"] == "code-bison@002"
    assert [e["rule"] for e in report["errors"]] == ["S-5"]
    deployment = upload(storage, "incoming/d.eval.jsonl", data)
    environ = {"CODETUNE_LARGE_MODEL_REFERENCE": "code-bison@002"}
    assert (
        validate_upload(deployment, storage, publisher, SETTINGS, LOG, None, environ)
        is Validation.REJECTED
    )


def test_an_evaluation_dataset_validated_for_another_model_stops_the_job(
    storage: MemoryStorage,
) -> None:
    validated(storage, "incoming/m.eval.jsonl", dataset(generation_dataset(12)), LEGACY)
    storage.put(BUCKET, "incoming/m.tuning.json", orjson.dumps({"evaluation": "m.eval.jsonl"}))
    message = validated(storage, "incoming/m.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    record = store(storage).record("incoming/m.jsonl", message.generation)
    assert record is not None and record.error
    assert "validated for code-bison@002" in record.error.problems[0].message
    assert vertex.creates == 0


def test_an_evaluation_dataset_alone_is_not_tuned(storage: MemoryStorage) -> None:
    message = validated(storage, "incoming/a.eval.jsonl", dataset(generation_dataset(12)))
    assert message.role is DatasetRole.EVALUATION
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SKIPPED
    assert vertex.creates == 0


def test_what_tune_would_refuse_is_rejected_by_validate(storage: MemoryStorage) -> None:
    """The check before the job is the check at the upload: broken parameters, a model the
    deployment does not allow, a kind the model does not tune, a budget it breaks."""
    publisher = MemoryPublisher()
    cases = [
        ("incoming/p0.jsonl", dataset(generation_dataset(12)), {"codetune-train_steps": "0"}),
        ("incoming/p1.jsonl", dataset(chat_dataset(12)), {**LEGACY, "codetune-train_steps": "9"}),
    ]
    for name, data, metadata in cases:
        obj = upload(storage, name, data, metadata)
        assert (
            validate_upload(obj, storage, publisher, SETTINGS, LOG, None, ENVIRON)
            is Validation.REJECTED
        ), name
        report, _ = storage.read_json(BUCKET, name + ".report.json")
        assert report is not None and {e["rule"] for e in report["errors"]} == {"tuning"}
        assert all(e["field"].startswith("parameters.") for e in report["errors"])
    assert {topic for topic, _, _ in publisher.messages} == {SETTINGS.finished_topic_path}
    chat_for_bison, _ = storage.read_json(BUCKET, "incoming/p1.jsonl.report.json")
    assert chat_for_bison is not None
    assert any(e["message"].startswith("S-21: ") for e in chat_for_bison["errors"])


def test_broken_parameters_and_refusals_fail_the_record(storage: MemoryStorage) -> None:
    """tune checks again: the deployment's settings may have changed since the validation."""
    message = validated(storage, "incoming/p.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    later = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "3", "CODETUNE_MAX_TRAINING_TOKENS": "10"}
    assert tune_dataset(message, storage, vertex, SETTINGS, later, LOG) is Tuning.REJECTED
    assert vertex.creates == 0

    def refuse(name: str) -> None:
        raise PermanentVertexError("403 denied", 403, "PERMISSION_DENIED")

    refused = validated(storage, "incoming/r.jsonl", dataset(generation_dataset(12)))
    assert (
        tune_dataset(refused, storage, FakeVertex(refuse), SETTINGS, ENVIRON, LOG) is Tuning.REFUSED
    )
    record = store(storage).record("incoming/r.jsonl", refused.generation)
    assert record is not None and record.state is Stage.FAILED and record.error
    assert record.error.code == "PERMISSION_DENIED"


# --- status and sweep -------------------------------------------------------------------------
def submitted(
    storage: MemoryStorage, name: str, vertex: FakeVertex, **metadata: str
) -> DatasetValidated:
    message = validated(storage, name, dataset(generation_dataset(12)), metadata or None)
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    return message


def test_status_records_the_tuned_model_and_never_moves_back(storage: MemoryStorage) -> None:
    vertex = FakeVertex()
    message = submitted(storage, "incoming/s.jsonl", vertex, **LEGACY)
    records = store(storage)
    [pointer] = records.open_jobs(no_bad)
    detail = {
        "taskDetails": [
            {
                "taskName": "upload-llm-model",
                "execution": {
                    "metadata": {"output:model_resource_name": "projects/p/locations/l/models/9"}
                },
            }
        ]
    }
    vertex.finish(pointer.job, "PIPELINE_STATE_SUCCEEDED", jobDetail=detail)
    assert job_event(pointer.job_id, records, vertex, LOG) is Stage.SUCCEEDED
    vertex.finish(pointer.job, "PIPELINE_STATE_RUNNING")  # a late, older state
    assert job_event(pointer.job_id, records, vertex, LOG) is Stage.RUNNING
    record = records.record("incoming/s.jsonl", message.generation)
    assert record is not None and record.state is Stage.SUCCEEDED
    assert record.tuned_model == TunedModel("projects/p/locations/l/models/9")
    assert records.open_jobs(no_bad) == []
    assert job_event("someone-elses-job", records, vertex, LOG) is None


def test_the_sweep_finishes_every_readable_job_and_counts_the_rest(storage: MemoryStorage) -> None:
    vertex = FakeVertex()
    submitted(
        storage,
        "incoming/one.jsonl",
        vertex,
        **{"codetune-large_model_reference": "gemini-3.5-flash"},
    )
    submitted(storage, "incoming/two.jsonl", vertex, **LEGACY)
    submitted(storage, "incoming/three.jsonl", vertex, **LEGACY)
    records = store(storage)
    gemini, *pipelines = sorted(records.open_jobs(no_bad), key=lambda p: p.backend)
    vertex.finish(gemini.job, "JOB_STATE_FAILED", error={"code": 3, "message": "bad data"})
    vertex.finish(pipelines[0].job, "PIPELINE_STATE_RUNNING")
    vertex.broken.add(pipelines[1].job)
    storage.put(STATE, "_codetune/open/poison.json", b"not json")  # one bad object
    storage.put(STATE, "_codetune/open/old.json", orjson.dumps({"version": 1, "job": "x"}))
    # A pointer naming a backend this version does not have: skipped, not a crashed sweep.
    alien = msgspec.structs.replace(pipelines[0], job=pipelines[0].job + "0", backend="alien")
    records.open_job(alien)
    records.write_pointer(alien)
    result = sweep(records, vertex, LOG)
    assert (result.jobs, result.finished, result.unreadable, result.skipped) == (3, 1, 1, 3)
    assert job_event(alien.job_id, records, vertex, LOG) is None  # status drops its event
    failed = records.record(gemini.dataset, gemini.generation)
    assert (
        failed is not None
        and failed.state is Stage.FAILED
        and failed.error == Failure(message="bad data", code=3)
    )
    bad: list[str] = []
    remaining = records.open_jobs(lambda name, fault: bad.append(name))
    assert {p.job for p in remaining} == {pipelines[0].job, pipelines[1].job, alien.job}
    assert len(bad) == 2


def test_a_job_vertex_ai_no_longer_knows_ends_its_dataset_failed(storage: MemoryStorage) -> None:
    vertex = FakeVertex()
    message = submitted(storage, "incoming/gone.jsonl", vertex, **LEGACY)
    records = store(storage)
    [pointer] = records.open_jobs(no_bad)
    del vertex.jobs[pointer.job]
    assert sweep(records, vertex, LOG).finished == 1
    record = records.record(message.name, message.generation)
    assert record is not None and record.state is Stage.FAILED and record.error
    assert "no longer exists" in record.error.message
    assert records.open_jobs(no_bad) == []
    # A late redelivery of the "dataset validated" message creates nothing: the id is free again.
    creates = vertex.creates
    assert (
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.ALREADY_SUBMITTED
    )
    assert vertex.creates == creates


@pytest.mark.parametrize("model", [LEGACY, {}], ids=["pipeline", "gemini"])
def test_a_delivery_racing_the_first_never_creates_a_job_that_vanished(
    storage: MemoryStorage, model: dict[str, str]
) -> None:
    """A duplicate delivery that read the record before the first one wrote SUBMITTED goes on
    to submit; the job meanwhile vanished from Vertex AI (a pipeline id is then free again).
    The claim names the job: no second job, for either backend."""
    vertex = FakeVertex()
    message = validated(storage, "incoming/race.jsonl", dataset(generation_dataset(12)), model)
    name = store(storage).record_name(message.name, message.generation)
    as_validated = storage.live[STATE, name]
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    vertex.jobs.clear()  # the job vanished
    storage.live[STATE, name] = as_validated  # what the racing delivery read
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REFUSED
    assert vertex.creates == 1
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.error and "404" in record.error.message


@pytest.mark.parametrize("vanished", [False, True], ids=["job-there", "job-vanished"])
@pytest.mark.parametrize("model", [LEGACY, {}], ids=["pipeline", "gemini"])
def test_when_job_events_came_first_a_delivery_finds_the_job_and_never_creates(
    storage: MemoryStorage, model: dict[str, str], vanished: bool
) -> None:
    """tune's delivery died after the create; job events then moved the record on. The next
    delivery completes the record from the job it finds, or records FAILED if it is gone."""
    vertex = FakeVertex()
    message = submitted(storage, "incoming/early.jsonl", vertex, **model)
    records = store(storage)
    record = records.record(message.name, message.generation)
    assert record is not None and record.parameters
    records.update(
        message.name,
        message.generation,
        lambda current: msgspec.structs.replace(
            record, state=Stage.RUNNING, parameters=None, derived=None
        ),
    )
    [claim] = storage.list_names(STATE, "_codetune/claims/")
    unnamed = orjson.loads(storage.live[STATE, claim][1])
    del unnamed["job"]  # the delivery died before naming its job in the claim
    storage.put(STATE, claim, orjson.dumps(unnamed))
    if vanished:
        vertex.jobs.clear()
    outcome = tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    assert vertex.creates == 1
    after = records.record(message.name, message.generation)
    assert after is not None
    if vanished:
        assert outcome is Tuning.REFUSED and after.error and after.error.status == 404
    else:
        assert outcome is Tuning.ALREADY_SUBMITTED and after.parameters
        assert after.state is Stage.RUNNING


def test_a_pipeline_create_refused_before_it_committed_is_made_by_the_next_delivery(
    storage: MemoryStorage,
) -> None:
    """A 503 before the create committed leaves a claim without a job. A pipeline's id refuses
    a second job while the first exists, so the next delivery need not wait out the claim."""
    from codetune.exceptions import RetryableVertexError

    def unavailable_once(name: str) -> None:
        if not tries:
            tries.append(name)
            raise RetryableVertexError(f"POST {name}: 503", 503, "UNAVAILABLE")

    tries: list[str] = []
    vertex = FakeVertex(before_create=unavailable_once)
    message = validated(storage, "incoming/again.jsonl", dataset(generation_dataset(12)), LEGACY)
    with pytest.raises(RetryableVertexError):
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG)
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    assert vertex.creates == 1


@pytest.mark.parametrize("model", [LEGACY, {}], ids=["pipeline", "gemini"])
def test_a_message_for_a_dataset_past_validation_never_reaches_vertex_ai(
    storage: MemoryStorage, model: dict[str, str]
) -> None:
    """Found by codetune chaos: a redelivered message re-ran the submission of a dataset that
    already had a job; a pipeline job that had vanished was then created a second time."""
    asked: list[str] = []  # every create attempted and every search for a job
    vertex = FakeVertex(before_create=asked.append)
    vertex.on_find = lambda: asked.append("find")
    message = submitted(storage, "incoming/past.jsonl", vertex, **model)
    asked.clear()
    assert (
        tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.ALREADY_SUBMITTED
    )
    assert asked == []


# --- the reconciler ---------------------------------------------------------------------------
def later(minutes: float) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_an_upload_whose_event_was_lost_is_validated_by_the_reconciler(
    storage: MemoryStorage,
) -> None:
    from codetune.app.reconcile import reconcile

    generation_id = storage.put(BUCKET, "incoming/lost.JSONL", dataset(generation_dataset(12)))
    publisher = MemoryPublisher()
    assert (
        reconcile(storage, publisher, SETTINGS, LOG, ENVIRON, now=later(1)).validated == 0
    )  # grace
    assert reconcile(storage, publisher, SETTINGS, LOG, ENVIRON, now=later(10)).validated == 1
    record = store(storage).record("incoming/lost.JSONL", generation_id)
    assert record is not None and record.state is Stage.VALIDATED
    [(_, body, attributes)] = publisher.messages
    assert DatasetValidated.decode(body, attributes).generation == generation_id
    assert (
        reconcile(storage, publisher, SETTINGS, LOG, ENVIRON, now=later(10)).validated == 0
    )  # once


def test_a_validated_dataset_whose_message_was_lost_is_announced_again_and_tuned(
    storage: MemoryStorage,
) -> None:
    from codetune.app.reconcile import reconcile

    lost = MemoryPublisher()  # the message never reaches tune
    obj = upload(storage, "incoming/quiet.jsonl", dataset(generation_dataset(12)))
    assert validate_upload(obj, storage, lost, SETTINGS, LOG, None, ENVIRON) is Validation.VALIDATED
    publisher = MemoryPublisher()
    # An unreadable record the index names (as it names every version with work left).
    storage.put(STATE, "_codetune/records/incoming/bad.jsonl/1.json", b"{broken")
    storage.put(STATE, "_codetune/unfinished/incoming/bad.jsonl/1.json", b"{}")
    result = reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(10))
    assert (result.announced, result.skipped) == (1, 1)
    [(_, body, attributes)] = publisher.messages
    vertex = FakeVertex()
    message = DatasetValidated.decode(body, attributes)
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    assert reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(10)).announced == 0


def test_a_dataset_stuck_short_of_an_end_is_reported(
    storage: MemoryStorage, caplog: pytest.LogCaptureFixture
) -> None:
    from codetune.app.reconcile import reconcile

    submitted(storage, "incoming/slow.jsonl", FakeVertex(), **LEGACY)
    assert reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(30)).stuck == 0
    assert reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(200)).stuck == 1
    assert any("not at an end" in r.getMessage() for r in caplog.records)


def test_the_reconciler_validates_a_missed_upload_only_with_a_whole_validation_ahead(
    storage: MemoryStorage,
) -> None:
    """A validation started late would be cut short by the sweep's timeout, or judged by less
    time than validate gives it: it waits for the next sweep instead."""
    from codetune.app.reconcile import reconcile

    settings = msgspec.structs.replace(SETTINGS, validation_seconds=100, sweep_seconds=150)
    upload(storage, "incoming/lost.jsonl", dataset(generation_dataset(12)))
    publisher = MemoryPublisher()

    def run_at(second: float) -> Any:
        return reconcile(
            storage, publisher, settings, LOG, {}, now=later(10), started=0, clock=lambda: second
        )

    assert (run_at(51).validated, run_at(51).deferred) == (0, 1)  # 51 + 100 > 150
    assert publisher.messages == [] and store(storage).listed_records() == []
    assert (run_at(50).validated, run_at(50).deferred) == (1, 0)


def test_the_reconciler_announces_before_it_validates(storage: MemoryStorage) -> None:
    """A missed upload's validation may take minutes, or fail: it never keeps a validated
    dataset's lost message from being sent again."""
    from codetune.app.reconcile import reconcile

    obj = upload(storage, "incoming/quiet.jsonl", dataset(generation_dataset(12)))
    assert (
        validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
        is Validation.VALIDATED
    )
    upload(storage, "incoming/lost.jsonl", dataset(generation_dataset(12)))
    storage.open_dataset = broken  # type: ignore[method-assign]
    publisher = MemoryPublisher()
    with pytest.raises(OSError):
        reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(10))
    [(topic, body, attributes)] = publisher.messages
    assert topic == SETTINGS.validated_topic_path
    assert DatasetValidated.decode(body, attributes).name == "incoming/quiet.jsonl"


def broken(*_: object) -> Any:
    raise OSError("the bucket is unreachable")


def test_a_sweeps_cost_grows_with_the_work_left_not_with_the_history(
    storage: MemoryStorage,
) -> None:
    """Issue 26: each sweep listed every upload and every record. It now lists the index of
    versions with work left (reading each), and one window of the uploads: requests stay the
    same however many datasets have ended."""
    from codetune.app.reconcile import reconcile

    def cost(ended: int) -> tuple[int, int]:
        runs.append(runs[-1] + 6)  # a grace (5 minutes) after the last: the report is due again
        for index in range(ended):
            invalid = upload(
                storage, f"incoming/r{index:03d}-{ended}.jsonl", b'{"input_text": 7}\n'
            )
            assert validate_upload(
                invalid, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON
            ) is (Validation.REJECTED)
        storage.listings = storage.json_reads = 0
        result = reconcile(storage, MemoryPublisher(), SETTINGS, LOG, {}, now=later(runs[-1]))
        assert (result.validated, result.announced, result.stuck) == (0, 0, 1)
        return storage.listings, storage.json_reads

    runs = [200]
    submitted(storage, "incoming/running.jsonl", FakeVertex(), **LEGACY)
    few = cost(10)
    assert few == cost(200) == cost(400)
    # The uploads' window and its records, the index once; the cursor and the running record.
    assert few == (3, 2)


def test_the_scan_looks_at_every_upload_in_turn_and_indexes_what_it_missed(
    storage: MemoryStorage,
) -> None:
    """Lost events are found by a scan of `scan_size` uploads a run; a record with work left
    that the index misses (written before it) is put in it when its upload is scanned."""
    from codetune.app.reconcile import reconcile

    for index in range(5):
        obj = upload(storage, f"incoming/s{index}.jsonl", dataset(generation_dataset(12)))
        assert validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON) is (
            Validation.VALIDATED
        )
    for name in [n for b, n in storage.live if n.startswith("_codetune/unfinished/")]:
        storage.delete(STATE, name)  # as before the index
    lost = upload(storage, "incoming/s9-lost.jsonl", dataset(generation_dataset(12)))
    announced = validated = 0
    for _ in range(7):  # 6 uploads, with their reports 16 objects: 2 to a window
        result = reconcile(
            storage, MemoryPublisher(), SETTINGS, LOG, ENVIRON, now=later(10), scan_size=3
        )
        announced += result.announced
        validated += result.validated
    assert validated == 1 and store(storage).record(lost.name, lost.generation) is not None
    assert announced >= 5  # every validated dataset with no job, once the scan indexed it


def test_a_record_written_before_stages_were_listed_is_still_reconciled(
    storage: MemoryStorage,
) -> None:
    from codetune.app.reconcile import reconcile

    obj = upload(storage, "incoming/old.jsonl", dataset(generation_dataset(12)))
    assert (
        validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
        is Validation.VALIDATED
    )
    name = store(storage).record_name(obj.name, obj.generation)
    generation_id, body, _ = storage.live[STATE, name]
    storage.live[STATE, name] = (generation_id, body, {})  # as an older release wrote it
    publisher = MemoryPublisher()
    assert reconcile(storage, publisher, SETTINGS, LOG, {}, now=later(10)).announced == 1


def test_a_dataset_may_not_point_its_job_at_another_buckets_data(storage: MemoryStorage) -> None:
    storage.put(
        BUCKET, "incoming/e.tuning.json", orjson.dumps({"evaluation": "gs://attacker/x.jsonl"})
    )
    message = validated(storage, "incoming/e.jsonl", dataset(generation_dataset(12)))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    record = store(storage).record("incoming/e.jsonl", message.generation)
    assert record is not None and record.error and vertex.creates == 0
    assert [(p.parameter, p.rule) for p in record.error.problems] == [
        ("evaluation_data_uri", "deployment-only")
    ]


def test_a_huge_manifest_is_refused_without_being_read_whole(storage: MemoryStorage) -> None:
    from codetune.tuning.manifest import MAX_MANIFEST_BYTES

    huge = orjson.dumps({"parameters": {"labels": {"a": "b" * 60}}, "pad": "x" * 200_000})
    storage.put(BUCKET, "incoming/h.tuning.json", huge)
    reads: list[int] = []
    real = storage.read_bytes

    def counted(bucket: str, name: str, max_bytes: int | None = None) -> bytes | None:
        data = real(bucket, name, max_bytes)
        reads.append(len(data or b""))
        return data

    storage.read_bytes = counted  # type: ignore[method-assign]
    obj = upload(storage, "incoming/h.jsonl", dataset(generation_dataset(12)))
    outcome = validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    assert max(reads) <= MAX_MANIFEST_BYTES + 1
    assert outcome is Validation.REJECTED
    report, _ = storage.read_json(BUCKET, "incoming/h.jsonl.report.json")
    assert report is not None
    assert [(e["field"], e["message"][:5]) for e in report["errors"]] == [
        ("parameters.manifest", "size:")
    ]


def test_a_dataset_with_the_longest_name_cloud_storage_allows_is_tuned(
    storage: MemoryStorage,
) -> None:
    name = "incoming/" + "n" * (1024 - len("incoming/") - len(".jsonl")) + ".jsonl"
    assert len(name.encode()) == 1024
    message = validated(storage, name, dataset(generation_dataset(12)))
    assert tune_dataset(message, storage, FakeVertex(), SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    assert all(len(n.encode()) <= 1024 for _, n in storage.live)
    record = store(storage).record(name, message.generation)
    assert record is not None and record.dataset == f"gs://{BUCKET}/{name}"


def test_a_dataset_may_choose_only_among_the_deployments_base_models(
    storage: MemoryStorage,
) -> None:
    settings = msgspec.structs.replace(SETTINGS, allowed_base_models=("gemini-3.5-flash-lite",))
    chosen = validated(storage, "incoming/m1.jsonl", dataset(generation_dataset(12)), LEGACY)
    vertex = FakeVertex()
    assert tune_dataset(chosen, storage, vertex, settings, ENVIRON, LOG) is Tuning.REJECTED
    record = store(storage).record(chosen.name, chosen.generation)
    assert record is not None and record.error
    assert record.error.problems[0].rule == "deployment-only"
    allowed = validated(
        storage,
        "incoming/m2.jsonl",
        dataset(generation_dataset(12)),
        {"codetune-large_model_reference": "gemini-3.5-flash-lite"},
    )
    assert tune_dataset(allowed, storage, vertex, settings, ENVIRON, LOG) is Tuning.SUBMITTED
    assert vertex.creates == 1


def test_an_evaluation_dataset_that_overlaps_training_stops_the_job(storage: MemoryStorage) -> None:
    """Rule `overlap`: tune compares the two validated copies, whichever came first, and names
    the training line and the evaluation line of every overlap."""
    evaluation = [generation(900 + i) for i in range(12)]
    validated(storage, "incoming/v.eval.jsonl", dataset(evaluation))
    storage.put(BUCKET, "incoming/v.tuning.json", orjson.dumps({"evaluation": "v.eval.jsonl"}))
    training = generation_dataset(30)
    training[10] = evaluation[2]
    message = validated(storage, "incoming/v.jsonl", dataset(training))
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    assert vertex.creates == 0
    record = store(storage).record("incoming/v.jsonl", message.generation)
    assert record is not None and record.state is Stage.FAILED and record.error
    [problem] = record.error.problems
    assert problem.parameter == "evaluation_data_uri" and problem.rule == "overlap"
    assert problem.message.startswith(
        f"training line 11: example is also line 3 of the evaluation dataset gs://{BUCKET}/"
        "incoming/v.eval.jsonl"
    )
    # Without the overlap, the same pair is tuned.
    training[10] = generation(10)
    storage.put(BUCKET, "incoming/w.tuning.json", orjson.dumps({"evaluation": "v.eval.jsonl"}))
    clean = validated(storage, "incoming/w.jsonl", dataset(training))
    assert tune_dataset(clean, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs.values()
    assert job["supervisedTuningSpec"]["validationDatasetUri"].endswith("validation.gemini.jsonl")


def test_a_dataset_with_a_credential_is_rejected_unless_the_deployment_says_warning(
    storage: MemoryStorage,
) -> None:
    lines = generation_dataset(12)
    lines[5] = generation(
        5, output_text='requests.get(url, auth=("bot", "ghp_' + "x7Q" * 12 + '"))'
    )
    publisher = MemoryPublisher()
    rejected = upload(storage, "incoming/k.jsonl", dataset(lines))
    assert (
        validate_upload(rejected, storage, publisher, SETTINGS, LOG, None, ENVIRON)
        is Validation.REJECTED
    )
    report, _ = storage.read_json(BUCKET, "incoming/k.jsonl.report.json")
    assert report is not None
    [error] = report["errors"]
    assert (error["rule"], error["line"], error["field"]) == ("secret", 6, "output_text")
    assert "ghp_" not in orjson.dumps(report).decode()
    assert [m for m in publisher.messages if m[0] == SETTINGS.validated_topic_path] == []
    publisher.messages.clear()
    warned = msgspec.structs.replace(SETTINGS, secrets=SecretSeverity.WARNING)
    again = upload(storage, "incoming/k2.jsonl", dataset(lines))
    assert (
        validate_upload(again, storage, publisher, warned, LOG, None, ENVIRON)
        is Validation.VALIDATED
    )
    report, _ = storage.read_json(BUCKET, "incoming/k2.jsonl.report.json")
    assert report is not None and "secret" in [w["rule"] for w in report["warnings"]]
    assert len(publisher.messages) == 1


def test_a_job_over_the_deployments_budget_is_never_created(storage: MemoryStorage) -> None:
    """Rule `budget`: training tokens = the dataset's tokens x epochs; cost at the deployment's
    price. Checked before any job; the record keeps the estimate of a job that was created."""
    message = validated(storage, "incoming/b.jsonl", dataset(generation_dataset(40)))
    record = store(storage).record("incoming/b.jsonl", message.generation)
    assert record is not None and record.tokens is not None
    per_epoch = record.tokens.per_epoch
    assert per_epoch > 0 and record.tokens.method == "estimate: characters / 4"

    def tune_with(**settings: str) -> Tuning:
        environ = {**ENVIRON, **{f"CODETUNE_{k.upper()}": v for k, v in settings.items()}}
        return tune_dataset(message, storage, vertex, SETTINGS, environ, LOG)

    vertex = FakeVertex()
    assert tune_with(epoch_count="3", max_training_tokens=str(3 * per_epoch - 1)) is (
        Tuning.REJECTED
    )
    assert vertex.creates == 0
    failed = store(storage).record("incoming/b.jsonl", message.generation)
    assert failed is not None and failed.error
    [problem] = failed.error.problems
    assert (problem.parameter, problem.rule) == ("max_training_tokens", "budget")
    assert f"~{3 * per_epoch:,} training tokens ({per_epoch:,} an epoch x 3 epochs)" in (
        problem.message
    )


@pytest.mark.parametrize(
    ("settings", "parameter", "says"),
    [
        ({"epoch_count": "2", "training_price": "1000000", "max_cost": "0.5"}, "max_cost", "over"),
        (
            {"epoch_count": "2", "max_cost": "5", "large_model_reference": "gemini-3.5-flash-lite"},
            "max_cost",
            "no known price for gemini-3.5-flash-lite",
        ),
        ({"max_training_tokens": "10"}, "max_training_tokens", "set epoch_count"),
    ],
)
def test_a_budget_that_cannot_be_met_or_checked_refuses_the_job(
    storage: MemoryStorage, settings: dict[str, str], parameter: str, says: str
) -> None:
    message = validated(storage, "incoming/c.jsonl", dataset(generation_dataset(40)))
    environ = {**ENVIRON, **{f"CODETUNE_{k.upper()}": v for k, v in settings.items()}}
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, environ, LOG) is Tuning.REJECTED
    assert vertex.creates == 0
    record = store(storage).record("incoming/c.jsonl", message.generation)
    assert record is not None and record.error
    [problem] = record.error.problems
    assert problem.parameter == parameter and says in problem.message


def test_the_record_keeps_the_estimate_of_the_job_it_submitted(storage: MemoryStorage) -> None:
    message = validated(storage, "incoming/e.jsonl", dataset(generation_dataset(40)))
    environ = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "2", "CODETUNE_TRAINING_PRICE": "4"}
    environ["CODETUNE_MAX_COST"] = "100"
    assert tune_dataset(message, storage, FakeVertex(), SETTINGS, environ, LOG) is Tuning.SUBMITTED
    record = store(storage).record("incoming/e.jsonl", message.generation)
    assert record is not None and record.derived and record.tokens
    cost = record.derived["cost"]
    assert cost["token_method"] == "estimate: characters / 4, counted on the converted file"
    assert cost["training_tokens"] == 2 * cost["tokens_per_epoch"] > 0
    assert cost["estimated_cost_usd"] == round(cost["training_tokens"] / 1e6 * 4, 2)
    assert cost["price_basis"] == "the deployment's price"


def test_an_uploader_cannot_raise_the_budget(storage: MemoryStorage) -> None:
    manifest = {"parameters": {"max_cost": 1e9, "training_price": 0.0001}}
    storage.put(BUCKET, "incoming/u.tuning.json", orjson.dumps(manifest))
    obj = upload(storage, "incoming/u.jsonl", dataset(generation_dataset(40)))
    outcome = validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    assert outcome is Validation.REJECTED
    report, _ = storage.read_json(BUCKET, "incoming/u.jsonl.report.json")
    assert report is not None
    assert {e["message"].partition(":")[0] for e in report["errors"]} == {"deployment-only"}


def test_validate_writes_the_report_page_beside_the_json_report(storage: MemoryStorage) -> None:
    upload(storage, "incoming/p.jsonl", dataset(generation_dataset(40)))
    obj = upload(storage, "incoming/p.jsonl", dataset(generation_dataset(40)))
    environ = {"CODETUNE_EPOCH_COUNT": "2", "CODETUNE_TRAINING_PRICE": "3"}
    validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, environ)
    page = storage.read_bytes(BUCKET, "incoming/p.jsonl.report.html")
    assert page is not None and page.startswith(b"<!doctype html>")
    assert b"VALID" in page and b"training tokens (2 epochs)" in page and b"estimated cost" in page


def test_with_near_duplicates_on_a_near_overlap_is_a_warning_of_the_job(
    storage: MemoryStorage,
) -> None:
    from tests.unit.test_near import TASK, near_copy

    evaluation = [generation(900 + i) for i in range(11)] + [generation(950, input_text=TASK)]
    validated(storage, "incoming/n.eval.jsonl", dataset(evaluation))
    storage.put(BUCKET, "incoming/n.tuning.json", orjson.dumps({"evaluation": "n.eval.jsonl"}))
    training = generation_dataset(30)
    training[4] = generation(950, input_text=near_copy(TASK))
    message = validated(storage, "incoming/n.jsonl", dataset(training))
    near = msgspec.structs.replace(SETTINGS, near_duplicates=True)
    assert tune_dataset(message, storage, FakeVertex(), near, ENVIRON, LOG) is Tuning.SUBMITTED
    record = store(storage).record("incoming/n.jsonl", message.generation)
    assert record is not None and record.warnings
    [warning] = [w for w in record.warnings if "evaluation dataset" in w]
    assert warning.startswith("training line 5: example is about") and "line 12 of the" in warning


def test_a_near_overlap_search_out_of_time_is_a_warning_of_the_job(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tune's near-overlap search has NEAR_OVERLAP_SECONDS of its timeout: past them it stops,
    the job goes ahead (the exact check ran whole), and its warnings say where it stopped."""
    import codetune.app.tune

    monkeypatch.setattr(codetune.app.tune, "NEAR_OVERLAP_SECONDS", 1e-9)
    evaluation = [generation(900 + i) for i in range(12)]
    validated(storage, "incoming/s.eval.jsonl", dataset(evaluation))
    storage.put(BUCKET, "incoming/s.tuning.json", orjson.dumps({"evaluation": "s.eval.jsonl"}))
    message = validated(storage, "incoming/s.jsonl", dataset(generation_dataset(100)))
    near = msgspec.structs.replace(SETTINGS, near_duplicates=True)
    assert tune_dataset(message, storage, FakeVertex(), near, ENVIRON, LOG) is Tuning.SUBMITTED
    record = store(storage).record("incoming/s.jsonl", message.generation)
    assert record is not None and record.warnings
    # The clock is looked at every 64 training examples: the 64th is the first not compared.
    [warning] = [w for w in record.warnings if "near-overlap" in w]
    assert warning.startswith("the near-overlap search stopped at training line 64:")


def test_the_log_lines_metrics_count_carry_their_labels(
    storage: MemoryStorage, caplog: pytest.LogCaptureFixture
) -> None:
    """What log-based metrics will be labelled by: a rejection's most broken rule, a job end's
    base model, and the time from validation to the tuned model."""
    import logging

    caplog.set_level(logging.INFO)
    bad = upload(storage, "incoming/m.jsonl", dataset([generation(1, output_text="")] * 12))
    validate_upload(bad, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    [rejected] = [r for r in caplog.records if r.getMessage() == "dataset rejected"]
    assert rejected.rule == "S-1"  # type: ignore[attr-defined]
    vertex = FakeVertex()
    submitted(storage, "incoming/t.jsonl", vertex, **LEGACY)
    [pointer] = store(storage).open_jobs(no_bad)
    model = {"output:model_resource_name": "projects/p/locations/l/models/9"}
    detail = {"taskDetails": [{"taskName": "upload-llm-model", "execution": {"metadata": model}}]}
    vertex.finish(pointer.job, "PIPELINE_STATE_SUCCEEDED", jobDetail=detail)
    job_event(pointer.job_id, store(storage), vertex, LOG)
    [ready] = [r for r in caplog.records if r.getMessage() == "tuned model ready"]
    assert ready.base_model == "code-bison@002"  # type: ignore[attr-defined]
    assert ready.seconds_since_upload >= 0  # type: ignore[attr-defined]


def test_a_gemini_evaluation_set_past_1000_is_held_to_30_percent_of_training(
    storage: MemoryStorage,
) -> None:
    """Google's limit for 3.x and 2.5 models, which only the pair tells: checked before any job."""
    evaluation = dataset([generation(i) for i in range(10_000, 11_001)])  # 1,001 examples
    storage.put(BUCKET, "incoming/q.tuning.json", orjson.dumps({"evaluation": "q.eval.jsonl"}))
    obj = upload(storage, "incoming/q.eval.jsonl", evaluation)
    assert (
        validate_upload(obj, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
        is Validation.VALIDATED
    )
    vertex = FakeVertex()
    small = validated(storage, "incoming/q.jsonl", dataset(generation_dataset(3_000)))
    assert tune_dataset(small, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.REJECTED
    record = store(storage).record(small.name, small.generation)
    assert record is not None and record.error is not None
    [problem] = record.error.problems
    assert "at most 30% of the training examples (900)" in problem.message
    storage.put(BUCKET, "incoming/r.tuning.json", orjson.dumps({"evaluation": "q.eval.jsonl"}))
    enough = validated(storage, "incoming/r.jsonl", dataset(generation_dataset(3_400)))
    assert tune_dataset(enough, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED


def test_the_budget_counts_what_trains_context_included(storage: MemoryStorage) -> None:
    """A 32 KB default_context (about the most one may hold) becomes every converted example's
    systemInstruction: the job trains (and bills) on it 20 times over, though the dataset's own
    texts are small."""
    manifest = {"parameters": {"default_context": "Our house style. " * 1_900}}
    storage.put(BUCKET, "incoming/ctx.tuning.json", orjson.dumps(manifest))
    message = validated(storage, "incoming/ctx.jsonl", dataset(chat_dataset(20)))
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.tokens is not None
    assert 3 * record.tokens.per_epoch < 60_000  # the dataset alone fits
    environ = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "3", "CODETUNE_MAX_TRAINING_TOKENS": "60000"}
    vertex = FakeVertex()
    assert tune_dataset(message, storage, vertex, SETTINGS, environ, LOG) is Tuning.REJECTED
    assert vertex.creates == 0
    failed = store(storage).record(message.name, message.generation)
    assert failed is not None and failed.error is not None
    [problem] = failed.error.problems
    assert problem.rule == "budget" and "counted" not in problem.message
    assert "an epoch x 3 epochs" in problem.message
    tokens = int(problem.message.split(" training tokens")[0].lstrip("~").replace(",", ""))
    assert tokens > 20 * 3 * 8_000  # every example's context, every epoch


def test_a_model_without_a_price_says_cost_unknown_and_list_prices_say_so(
    storage: MemoryStorage,
) -> None:
    message = validated(storage, "incoming/lp.jsonl", dataset(generation_dataset(40)))
    environ = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "2"}
    assert tune_dataset(message, storage, FakeVertex(), SETTINGS, environ, LOG) is Tuning.SUBMITTED
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.derived is not None
    cost = record.derived["cost"]
    assert cost["price_per_million_training_tokens"] == 10.0  # gemini-3.5-flash, list price
    assert cost["price_basis"] == "list price, read 2026-09-27"
    contract = {**environ, "CODETUNE_TRAINING_PRICES": "gemini-3.5-flash=7.5,other=1"}
    again = validated(storage, "incoming/lp2.jsonl", dataset(generation_dataset(40)))
    assert tune_dataset(again, storage, FakeVertex(), SETTINGS, contract, LOG) is Tuning.SUBMITTED
    record = store(storage).record(again.name, again.generation)
    assert record is not None and record.derived is not None
    assert record.derived["cost"]["price_per_million_training_tokens"] == 7.5


def test_with_the_deployments_tokenizer_tune_counts_what_trains_with_it_too(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate counts exactly with the tokenizer; tune then counts the converted file with the
    same tokenizer, not the (larger) estimate: what validate accepts within a budget, tune too."""
    import codetune.app.tune as tune_module

    class Words:
        method, exact = "words", True

        def count(self, text: str) -> int:
            return len(text.split())

    monkeypatch.setattr(tune_module, "deployment_tokenizer", lambda model: Words())
    message = validated(storage, "incoming/w.jsonl", dataset(generation_dataset(40)))
    environ = {**ENVIRON, "CODETUNE_EPOCH_COUNT": "1"}
    settings = msgspec.structs.replace(SETTINGS, tokenizer_model="words.model")
    assert tune_dataset(message, storage, FakeVertex(), settings, environ, LOG) is Tuning.SUBMITTED
    record = store(storage).record(message.name, message.generation)
    assert record is not None and record.derived is not None
    words = sum(
        len(text.split()) for i in range(40) for text in orjson.loads(generation(i)).values()
    )
    assert record.derived["cost"]["tokens_per_epoch"] == words


def test_cjk_and_emoji_are_counted_above_ascii_of_the_same_length(storage: MemoryStorage) -> None:
    """characters / 4 counts a CJK or emoji character as a quarter token: several times too
    few. Each such character counts a token of its own."""
    counts = {}
    for script, text in (
        ("ascii", "code " * 40),
        ("cjk", "代码风格说明" * 33),
        ("emoji", "🙂🚀" * 100),
    ):
        lines = [generation(i, output_text=f"{text} {i}") for i in range(12)]
        message = validated(storage, f"incoming/{script}.jsonl", dataset(lines))
        record = store(storage).record(message.name, message.generation)
        assert record is not None and record.tokens is not None
        counts[script] = record.tokens.per_epoch
    assert counts["cjk"] > 3 * counts["ascii"] and counts["emoji"] > 3 * counts["ascii"]
