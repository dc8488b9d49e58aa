"""The validate function scans what trains beside the examples: a credential in the manifest's
values or in the object's codetune-* metadata is in the report as the lines' are (rule
`secret`, field naming the layer), and an error rejects the upload before anything is
published; as a warning where the deployment makes secrets warnings."""

from __future__ import annotations

import orjson
import pytest

from codetune.app.validate import Validation, validate_upload
from codetune.config import Settings
from codetune.dataset import SecretSeverity
from codetune.events import StorageObject
from codetune.logs import Logger
from tests.support import dataset, generation_dataset
from tests.unit.fakes import MemoryPublisher, MemoryStorage

BUCKET = "drop"
ENVIRON = {
    "CODETUNE_PROJECT": "acme-ml",
    "CODETUNE_PIPELINE_REGION": "us-central1",
    "CODETUNE_OUTPUT_DIR": f"gs://{BUCKET}/_codetune/pipeline",
}
TOKEN = "ghp_" + "Zq8xW3vB7nM2kL5pR9tY4uI6oE1aS0dF2gH7"


def run(
    manifest: dict[str, object] | None,
    metadata: dict[str, str] | None = None,
    secrets: SecretSeverity = SecretSeverity.ERROR,
) -> tuple[Validation, dict, MemoryPublisher]:  # type: ignore[type-arg]
    """Validate an upload of `incoming/train.jsonl` (twelve valid examples), with its manifest
    beside it; the outcome, its report and what was published."""
    storage, publisher = MemoryStorage(), MemoryPublisher()
    settings = Settings(project="acme-ml", bucket=BUCKET, secrets=secrets)
    if manifest is not None:
        storage.put(BUCKET, "incoming/train.tuning.json", orjson.dumps(manifest))
    name = "incoming/train.jsonl"
    generation_id = storage.put(BUCKET, name, dataset(generation_dataset(12)), metadata)
    obj = StorageObject(BUCKET, name, generation_id, metadata or {})
    outcome = validate_upload(obj, storage, publisher, settings, Logger("test"), None, ENVIRON)
    [report] = [
        orjson.loads(data)
        for (_, n), (_, data, _) in storage.live.items()
        if n.endswith(".report.json")
    ]
    return outcome, report, publisher


@pytest.mark.parametrize(
    ("manifest", "metadata", "field"),
    [
        ({"parameters": {"default_context": f"Deploy with {TOKEN}"}}, None, "manifest: parameters.default_context"),
        (None, {"codetune-display_name": TOKEN}, "metadata: codetune-display_name"),
    ],
)  # fmt: skip
def test_a_secret_beside_the_dataset_rejects_it_before_anything_is_published(
    manifest: dict[str, object] | None, metadata: dict[str, str] | None, field: str
) -> None:
    outcome, report, publisher = run(manifest, metadata)
    assert outcome is Validation.REJECTED and report["valid"] is False
    settings = Settings(project="acme-ml", bucket=BUCKET)
    assert [
        topic for topic, *_ in publisher.messages if topic == settings.validated_topic_path
    ] == []
    assert [(e["line"], e["field"]) for e in report["errors"] if e["rule"] == "secret"] == [
        (None, field)
    ]
    assert TOKEN not in orjson.dumps(report).decode()


def test_as_a_warning_where_the_deployment_says_so_it_is_tuned() -> None:
    manifest = {"parameters": {"default_context": f"Deploy with {TOKEN}"}}
    outcome, report, _ = run(manifest, None, SecretSeverity.WARNING)
    assert outcome is Validation.VALIDATED and report["valid"] is True
    assert [w["field"] for w in report["warnings"] if w["rule"] == "secret"] == [
        "manifest: parameters.default_context"
    ]
