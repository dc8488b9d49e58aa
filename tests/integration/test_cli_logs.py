"""`codetune logs DATASET_URI`: entries.list against the Cloud Logging stand-in (requests held to
the logging v2 discovery schema), the chain's entries in order, paged; one line and exit 2
when Cloud Logging refuses."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from codetune import logs
from codetune.local.logging_standin import LoggingStandIn

URI = "gs://drop/incoming/train.jsonl"
GENERATION = "1732700000000001"


@pytest.fixture
def cloud() -> Iterator[LoggingStandIn]:
    stand_in = LoggingStandIn("acme-ml").start()
    correlation = logs.correlation_id(URI, GENERATION)
    for component, messages in (
        ("validate", ["validating dataset", "dataset validated"]),
        ("tune", ["tuning job submitted"]),
        ("sweep", ["job succeeded"]),
    ):
        stream = io.StringIO()
        logs.setup(component, stream)
        try:
            with logs.event(component, "00-" + "c" * 32 + "-" + "d" * 16 + "-01", "acme-ml"):
                for message in messages:
                    logs.Logger(component, correlation).info(message, dataset=URI)
                logs.Logger(component, "ct-other").info("another dataset")
        finally:
            logging.getLogger().handlers.clear()
        stand_in.from_structured_lines(stream.getvalue().encode().splitlines(), component)
    yield stand_in
    stand_in.stop()


def codetune(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    env["CODETUNE_LOGGING_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "codetune.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_logs_prints_the_chains_entries_for_one_dataset_in_order(cloud: LoggingStandIn) -> None:
    import codetune.logreader as reader

    reader_page = reader.PAGE_SIZE
    result = codetune("logs", f"{URI}#{GENERATION}", "--project", "acme-ml", endpoint=cloud.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(maxsplit=5)[2:5] for line in lines] == [
        ["validate", "INFO", "validating"],
        ["validate", "INFO", "dataset"],
        ["tune", "INFO", "tuning"],
        ["sweep", "INFO", "job"],
    ]
    [request] = cloud.requests
    assert (
        request["resourceNames"] == ["projects/acme-ml"] and request["orderBy"] == "timestamp asc"
    )
    assert request["pageSize"] == reader_page
    # The functions' entries share the upload's trace.
    assert {e.get("trace") for e in cloud.entries} == {f"projects/acme-ml/traces/{'c' * 32}"}


def test_pages_are_followed(cloud: LoggingStandIn) -> None:
    from codetune.logreader import CloudLogs

    reader = CloudLogs("acme-ml", cloud.url)
    original = cloud.handle

    def small_pages(path: str, raw: bytes):  # type: ignore[no-untyped-def]
        import orjson

        body = orjson.loads(raw)
        body["pageSize"] = 1
        return original(path, orjson.dumps(body))

    cloud.handle = small_pages  # type: ignore[method-assign]
    entries = list(reader.entries(logs.correlation_id(URI, GENERATION)))
    assert len(entries) == 4 and len(cloud.requests) == 4
    assert [r.get("pageToken") for r in cloud.requests] == [None, "1", "2", "3"]


def test_a_refusal_is_one_line_naming_the_role(cloud: LoggingStandIn) -> None:
    cloud.refuse(403)
    result = codetune("logs", f"{URI}#{GENERATION}", "--project", "acme-ml", endpoint=cloud.url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("codetune: Cloud Logging refused entries.list")
    assert "roles/logging.viewer" in result.stderr
