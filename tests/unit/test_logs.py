"""Logs go through the logging module and come out as Cloud Logging's structured JSON: ours, a
library's, and an uncaught exception's traceback, each with the dataset's correlation id."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import orjson
import pytest

from codetune import logs

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.setup("validate", stream)
    yield stream
    root.handlers[:], root.level = saved


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_our_entries_carry_severity_fields_labels_and_trace(out: io.StringIO) -> None:
    with logs.event("validate", TRACEPARENT, "acme-ml"):
        logs.Logger("validate").bind("ct-1").warning("dataset rejected", errors=3, name="clash")
    [entry] = entries(out)
    assert entry["severity"] == "WARNING" and entry["message"] == "dataset rejected"
    assert entry["errors"] == 3 and entry["field_name"] == "clash"
    assert entry["logging.googleapis.com/labels"] == {
        "codetune/component": "validate",
        "codetune/correlation_id": "ct-1",
    }
    assert (
        entry["logging.googleapis.com/trace"]
        == "projects/acme-ml/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert entry["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert entry["logging.googleapis.com/trace_sampled"] is True


def test_a_librarys_warning_comes_out_structured_with_the_datasets_id(out: io.StringIO) -> None:
    with logs.event("validate"), logs.Logger("validate").bound("ct-2"):
        logging.getLogger("urllib3.connectionpool").warning("Retrying (%d attempts left)", 2)
    [entry] = entries(out)
    assert (entry["severity"], entry["message"], entry["logger"]) == (
        "WARNING",
        "Retrying (2 attempts left)",
        "urllib3.connectionpool",
    )
    assert entry["logging.googleapis.com/labels"]["codetune/correlation_id"] == "ct-2"
    assert "logging.googleapis.com/trace" not in entry


def test_the_next_event_does_not_inherit_the_last_ones_dataset(out: io.StringIO) -> None:
    with logs.event("tune", TRACEPARENT, "acme-ml"):
        with logs.Logger("tune").bound("ct-old"):
            logging.getLogger("a.library").warning("inside")
        logging.getLogger("a.library").warning("after the dataset")  # the sweep's next one
    logging.getLogger("a.library").warning("after the event")
    with logs.event("tune", "not-a-traceparent", "acme-ml"):
        logging.getLogger("a.library").warning("refreshing")
    inside, after_dataset, after, refreshing = entries(out)
    assert inside["correlation_id"] == "ct-old" and "logging.googleapis.com/trace" in inside
    assert "correlation_id" not in after_dataset and "logging.googleapis.com/trace" in after_dataset
    for entry in (after, refreshing):
        assert "correlation_id" not in entry and "logging.googleapis.com/trace" not in entry


def test_an_uncaught_exception_in_a_function_is_one_structured_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    source = tmp_path / "main.py"
    source.write_text(
        "import functions_framework\nfrom codetune import logs\nlogs.setup('boom')\n"
        "@functions_framework.http\ndef boom(request):\n    raise ValueError('kaput')\n"
    )
    try:
        client = functions_framework.create_app(target="boom", source=str(source)).test_client()
        assert client.post("/").status_code == 500
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    finally:
        root.handlers[:], root.level = saved
    [entry] = [orjson.loads(line) for line in lines if "kaput" in line]
    assert entry["severity"] == "ERROR"
    assert "Traceback" in entry["stack_trace"] and "ValueError: kaput" in entry["stack_trace"]


def test_status_and_the_sweep_log_under_the_uploads_trace() -> None:
    """Their events (job events, the schedule) carry no traceparent: the job pointer brings the
    upload's, so Cloud Logging groups all the functions' entries of a dataset under one trace."""
    import io
    import logging

    from codetune import logs
    from codetune.state import JobPointer

    upload = "00-" + "4" * 32 + "-" + "5" * 16 + "-01"
    pointer = JobPointer.from_json(
        JobPointer(
            "projects/p/locations/l/tuningJobs/1",
            "gemini",
            "b",
            "d.jsonl",
            "1",
            "ct-1",
            traceparent=upload,
        ).to_json()
    )
    assert pointer.traceparent == upload
    old = {k: v for k, v in pointer.to_json().items() if k != "traceparent"}
    assert JobPointer.from_json(old).traceparent is None  # pointers written before it
    stream = io.StringIO()
    logs.setup("status", stream)
    try:
        with (
            logs.event("status", None, "acme-ml"),
            logs.Logger("status").bound("ct-1", pointer.traceparent) as log,
        ):
            log.info("job succeeded")
        with (
            logs.event("status", "00-" + "6" * 32 + "-" + "7" * 16 + "-01", "acme-ml"),
            logs.Logger("status").bound("ct-1", pointer.traceparent) as log,
        ):
            log.info("an event with its own trace")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first[logs.TRACE] == f"projects/acme-ml/traces/{'4' * 32}"
    assert second[logs.TRACE] == f"projects/acme-ml/traces/{'6' * 32}"
