"""`codetune runs`: every dataset version at a glance, from one listing of the records and a
read of only the rows shown."""

from __future__ import annotations

import pytest

from codetune.app.status import sweep
from codetune.app.tune import Tuning, tune_dataset
from codetune.app.validate import validate_upload
from codetune.runs import runs, table
from tests.support import dataset, generation, generation_dataset
from tests.unit.fakes import FakeVertex, MemoryPublisher, MemoryStorage
from tests.unit.test_app import ENVIRON, LOG, SETTINGS, store, upload, validated


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def test_every_version_newest_first_with_its_outcome(storage: MemoryStorage) -> None:
    vertex = FakeVertex()
    tuned = validated(storage, "incoming/team-a/tuned.jsonl", dataset(generation_dataset(12)))
    assert tune_dataset(tuned, storage, vertex, SETTINGS, ENVIRON, LOG) is Tuning.SUBMITTED
    [job] = vertex.jobs.values()
    vertex.finish(job["name"], "JOB_STATE_SUCCEEDED", tunedModel={"model": "models/7"})
    sweep(store(storage), vertex, LOG)
    bad = upload(
        storage, "incoming/team-b/bad.jsonl", dataset([generation(1, output_text="")] * 12)
    )
    validate_upload(bad, storage, MemoryPublisher(), SETTINGS, LOG, None, ENVIRON)
    waiting = validated(storage, "incoming/team-a/new.jsonl", dataset(generation_dataset(12)))

    rows = runs(store(storage))
    assert [(r.dataset.rpartition("/")[2], r.stage) for r in rows] == [
        ("new.jsonl", "VALIDATED"),
        ("bad.jsonl", "REJECTED"),
        ("tuned.jsonl", "SUCCEEDED"),
    ]
    assert rows[2].tuned_model == "models/7" and rows[2].job == job["name"]
    assert rows[2].base_model == "gemini-3.5-flash" and rows[2].seconds is not None
    assert rows[1].reason == "S-1" and rows[1].tuned_model is None
    assert waiting.generation == rows[0].generation
    assert [r.stage for r in runs(store(storage), stage="REJECTED")] == ["REJECTED"]
    assert [r.dataset for r in runs(store(storage), prefix="incoming/team-a/")] == [
        rows[0].dataset,
        rows[2].dataset,
    ]
    assert len(runs(store(storage), limit=1)) == 1
    assert runs(store(storage), model="code-bison@002") == []
    assert "models/7" in table(rows) and "S-1" in table(rows)


def test_filters_on_the_listing_read_only_the_rows_shown(storage: MemoryStorage) -> None:
    for index in range(30):
        validated(storage, f"incoming/many-{index:02d}.jsonl", dataset(generation_dataset(12)))
    storage.json_reads = 0
    listings = storage.listings
    assert len(runs(store(storage), limit=5)) == 5
    assert (storage.listings - listings, storage.json_reads) == (1, 5)
    storage.json_reads = 0
    assert runs(store(storage), stage="SUCCEEDED") == []
    assert storage.json_reads == 0  # the stage is in the listing: nothing to read


def test_since_takes_a_duration_or_a_date() -> None:
    import argparse
    from datetime import UTC, datetime, timedelta

    from codetune.cli._cloud import _since

    assert abs(_since("3d") - (datetime.now(UTC) - timedelta(days=3))) < timedelta(seconds=5)
    assert _since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        _since("yesterday")
