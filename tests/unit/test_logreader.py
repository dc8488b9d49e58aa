"""`codetune logs`: one dataset's entries, in order, from the lines the real formatter writes
(the local stack's log files), and the Cloud Logging filter that finds the same entries."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from codetune import logreader, logs

URI = "gs://drop/incoming/a.jsonl"


def written(component: str, calls: list[tuple[str | None, str]]) -> str:
    """What a function writes to stdout, through the formatter it installs."""
    stream = io.StringIO()
    logs.setup(component, stream)
    try:
        for correlation, message in calls:
            logger = logs.Logger(component, correlation)
            logger.info(message, dataset=URI, generation="7")
        logging.getLogger("werkzeug").warning("a server's own line")
    finally:
        logging.getLogger().handlers.clear()
    return "Serving on 127.0.0.1\n" + stream.getvalue()


def test_a_local_stack_folder_gives_one_datasets_entries_in_order(tmp_path: Path) -> None:
    mine, other = logs.correlation_id(URI, "7"), logs.correlation_id(URI, "8")
    (tmp_path / "validate.log").write_text(
        written("validate", [(mine, "validating dataset"), (other, "validating dataset")])
    )
    (tmp_path / "tune.log").write_text(written("tune", [(mine, "tuning job submitted")]))
    (tmp_path / "status.log").write_text(written("status", [(None, "status done")]))
    entries = logreader.local_entries(tmp_path, mine)
    assert [e["jsonPayload"]["message"] for e in entries] == [
        "validating dataset",
        "tuning job submitted",
    ]
    assert [e["labels"][logs.COMPONENT_LABEL] for e in entries] == ["validate", "tune"]
    shown = logreader.line(entries[1])
    assert (
        " tune INFO    tuning job submitted  dataset=gs://drop/incoming/a.jsonl generation=7"
        in (shown)
    )


def test_the_filter_names_the_correlation_label_and_a_start_to_follow() -> None:
    assert logreader.entries_filter("ct-1") == 'labels."codetune/correlation_id"="ct-1"'
    assert logreader.entries_filter("ct-1", "2026-11-29T03:00:00Z") == (
        'labels."codetune/correlation_id"="ct-1" AND timestamp>"2026-11-29T03:00:00Z"'
    )
