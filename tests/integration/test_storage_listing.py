"""The ranged listing the sweep's scan and index rely on (objects.list's startOffset,
endOffset, maxResults), against the Cloud Storage emulator through the real client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.emulators import storage_emulator
from codetune.storage import Storage


@pytest.fixture(scope="module")
def storage() -> Iterator[Storage]:
    with storage_emulator():
        client = Storage()
        client.client.create_bucket("listing-test")
        for name in ("a/1", "a/2", "a.x/1", "b/1", "c/1"):
            client.blob("listing-test", name).upload_from_string(b"x")
        yield client


def test_a_listing_from_start_before_end(storage: Storage) -> None:
    listed = storage.list_objects("listing-test", "", start="a/", end="b/\x7f")
    assert [o.name for o in listed] == ["a/1", "a/2", "b/1"]  # "a.x/1" sorts before "a/"


def test_a_listing_from_start_at_most_limit(storage: Storage) -> None:
    assert [o.name for o in storage.list_objects("listing-test", "", start="a/2", limit=2)] == [
        "a/2",
        "b/1",
    ]
    assert len(list(storage.list_objects("listing-test", ""))) == 5
