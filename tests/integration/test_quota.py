"""Many datasets, few tuning slots, on the local stack: the Vertex AI stand-in holds a
concurrent tuning job quota, refusing creates past it (429 RESOURCE_EXHAUSTED) or letting
their jobs wait (TUNING_JOB_STATE_WAITING_FOR_QUOTA). Every dataset is tuned as slots free
up, once, with the queue visible in `codetune runs` and no storm of retried creates."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from codetune.local.stack import LocalStack, StackConfig
from codetune.local.vertex_standin import wait_for
from tests.integration.test_e2e import codetune, finished, jobs_for, running
from tests.support import dataset, generation_dataset

GEMINI = {"codetune-large_model_reference": "gemini-3.5-flash"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("quota-logs")
    yield from running(StackConfig(step_seconds=0.5, tuning_quota=2, log_dir=logs))


def queue_shown(stack: LocalStack, text: str) -> bool:
    shown = codetune(stack, "runs", "--json", "--limit", "100")
    rows = [orjson.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]
    return any(text in (row.get("reason") or row.get("progress") or "") for row in rows)


def test_twenty_datasets_against_a_quota_of_two_are_all_tuned_once(stack: LocalStack) -> None:
    assert stack.vertex is not None
    started = time.monotonic()
    names = [f"many/{i:02d}.jsonl" for i in range(20)]
    generations = {
        name: stack.upload(dataset(generation_dataset(12)), f"incoming/{name}", GEMINI)
        for name in names
    }
    assert wait_for(lambda: queue_shown(stack, "waiting for a tuning slot"), 30, every=0.5)
    records = {name: finished(stack, name, generations[name], 240) for name in names}
    seconds = time.monotonic() - started
    assert {name: r["state"] for name, r in records.items()} == dict.fromkeys(names, "SUCCEEDED")
    assert [len(jobs_for(stack, name)) for name in names] == [1] * 20  # no duplicate job
    assert stack.vertex.most_tuning <= 2
    # At most one refused for each dataset at first (fewer: some jobs end before the last
    # uploads are validated), then at most one probe a sweep (every second here), not a
    # redelivery of every waiting message.
    assert 1 <= stack.vertex.quota_refusals <= 20 + seconds / stack.config.sweep_seconds


def test_jobs_vertex_ai_holds_for_quota_show_it_and_end(stack: LocalStack) -> None:
    assert stack.vertex is not None
    stack.vertex.quota, stack.vertex.quota_mode = 1, "wait"
    refused = stack.vertex.quota_refusals
    try:
        names = [f"held/{i}.jsonl" for i in range(3)]
        generations = {
            name: stack.upload(dataset(generation_dataset(12)), f"incoming/{name}", GEMINI)
            for name in names
        }
        assert wait_for(lambda: queue_shown(stack, "queued by Vertex AI for quota"), 30, every=0.5)
        records = {name: finished(stack, name, generations[name], 120) for name in names}
    finally:
        stack.vertex.quota, stack.vertex.quota_mode = 2, "refuse"
    assert [r["state"] for r in records.values()] == ["SUCCEEDED"] * 3
    assert stack.vertex.quota_refusals == refused  # every create accepted, and waited
    assert [len(jobs_for(stack, name)) for name in names] == [1] * 3
