"""Log-based metrics, alert policies and the dashboard: Google's schemas (the logging v2 and
monitoring v1/v3 discovery documents), the files deploy.sh creates, and each metric's filter
matching the lines the functions really write (through the real formatter) and no others."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from codetune import logs, monitoring
from codetune.app.finished import Announcer
from codetune.app.reconcile import reconcile
from codetune.app.status import job_event
from codetune.app.tune import tune_dataset
from codetune.app.validate import validate_upload
from codetune.local.discovery import json_schema
from codetune.local.logging_standin import LoggingStandIn
from codetune.state import RecordStore
from tests.support import dataset, generation, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import ENVIRON, LEGACY, SETTINGS, later, upload, validated
from tests.unit.test_evaluate import evaluating

ROOT = Path(__file__).resolve().parents[2]


def test_every_body_is_googles_shape() -> None:
    metric = jsonschema.Draft202012Validator(
        json_schema("logging", "v2", "LogMetric", request=True)
    )
    policy = jsonschema.Draft202012Validator(
        json_schema("monitoring", "v3", "AlertPolicy", request=True)
    )
    board = jsonschema.Draft202012Validator(
        json_schema("monitoring", "v1", "Dashboard", request=True)
    )
    for row in monitoring.METRICS:
        metric.validate(row.body())
    for body in monitoring.alert_policies():
        policy.validate(body)
    board.validate(monitoring.dashboard())


def test_the_deploy_files_are_the_tables() -> None:
    folder = ROOT / "deploy" / "monitoring"
    written = {str(p.relative_to(folder)) for p in folder.rglob("*.json")}
    assert written == set(monitoring.files()), (
        "run: python -m codetune.monitoring deploy/monitoring"
    )
    for name, body in monitoring.files().items():
        assert orjson.loads((folder / name).read_bytes()) == body, name


def matches(filter: str, entry: dict[str, Any]) -> bool:
    """The filter forms monitoring.Metric writes, evaluated on a LogEntry."""
    for clause in filter.split(" AND "):
        key, _, value = clause.partition("=")
        if key == "resource.type":
            actual = entry["resource"]["type"]
        elif key.startswith("jsonPayload."):
            actual = entry["jsonPayload"].get(key.removeprefix("jsonPayload."))
        else:
            label = re.fullmatch(r'labels\."([^"]+)"', key)
            assert label, clause
            actual = entry.get("labels", {}).get(label[1])
        allowed = re.findall(r'"([^"]*)"', value)
        if actual not in allowed:
            return False
    return True


@pytest.fixture(scope="module")
def entries() -> list[dict[str, Any]]:
    """A day of the chain, each function's lines as Cloud Logging records them."""
    stand_in = LoggingStandIn("acme-ml")
    storage, publisher, vertex = MemoryStorage(), MemoryPublisher(), FakeVertex()
    announcer = Announcer(publisher, SETTINGS)

    def run(component: str, work: Any) -> None:
        stream = io.StringIO()
        logs.setup(component, stream)
        try:
            with logs.event(component, None, "acme-ml"):
                work(logs.Logger(component))
        finally:
            logging.getLogger().handlers.clear()
        stand_in.from_structured_lines(stream.getvalue().encode().splitlines(), component)

    bad = upload(storage, "incoming/bad.jsonl", dataset([generation(1, output_text="")] * 12))
    run(
        "validate",
        lambda log: validate_upload(bad, storage, publisher, SETTINGS, log, None, ENVIRON),
    )
    good = upload(storage, "incoming/ok.jsonl", dataset(generation_dataset(12)))
    run(
        "validate",
        lambda log: validate_upload(good, storage, publisher, SETTINGS, log, None, ENVIRON),
    )
    message = validated(storage, "incoming/t.jsonl", dataset(generation_dataset(12)), LEGACY)
    run("tune", lambda log: tune_dataset(message, storage, vertex, SETTINGS, ENVIRON, log))
    failing = validated(storage, "incoming/f.jsonl", dataset(generation_dataset(14)), LEGACY)
    run("tune", lambda log: tune_dataset(failing, storage, vertex, SETTINGS, ENVIRON, log))
    store = RecordStore.of(storage, SETTINGS)
    pointers = sorted(store.open_jobs(lambda name, fault: None), key=lambda p: p.dataset)
    model = {"output:model_resource_name": "projects/p/locations/l/models/9"}
    detail = {"taskDetails": [{"taskName": "upload-llm-model", "execution": {"metadata": model}}]}
    vertex.finish(pointers[1].job, "PIPELINE_STATE_SUCCEEDED", jobDetail=detail)
    vertex.finish(pointers[0].job, "PIPELINE_STATE_FAILED", error={"code": 9, "message": "x"})
    for pointer in pointers:
        run("status", lambda log, p=pointer: job_event(p.job_id, store, vertex, log, announcer))
    stuck = validated(storage, "incoming/s.jsonl", dataset(generation_dataset(16)), LEGACY)
    tune_dataset(stuck, storage, vertex, SETTINGS, ENVIRON, logs.Logger("tune"))  # never ends
    run("sweep", lambda log: reconcile(storage, publisher, SETTINGS, log, {}, now=later(600)))
    chain = evaluating(count=12)  # a tuned model worse than its base
    chain.models.worse = True
    run("evaluate", lambda log: chain.evaluate(log=log))
    return stand_in.entries


@pytest.mark.parametrize("metric", monitoring.METRICS, ids=lambda m: m.name)
def test_each_metric_counts_its_line_and_no_other(
    metric: monitoring.Metric, entries: list[dict[str, Any]]
) -> None:
    counted = [e for e in entries if matches(metric.filter(), e)]
    assert counted, f"{metric.name}: no line of the chain matched"
    assert {e["jsonPayload"]["message"] for e in counted} == {metric.message}
    expected = [
        e
        for e in entries
        if e["jsonPayload"].get("message") == metric.message
        and e["labels"].get(logs.COMPONENT_LABEL) in metric.components
    ]
    assert counted == expected
    for entry in counted:
        for field in [*metric.labels.values(), *([metric.value] if metric.value else [])]:
            assert entry["jsonPayload"].get(field) not in (None, ""), (metric.name, field)
