"""codetune.storage.Storage against a client that answers as Cloud Storage does under a
concurrent writer."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core.exceptions import PreconditionFailed

from codetune.exceptions import StorageError
from codetune.storage import MAX_UPDATE_ATTEMPTS, Storage


class Replaced:
    """Every read finds a generation that is replaced before its bytes are downloaded."""

    def __init__(self, settle_after: int | None = None) -> None:
        self.reads = 0
        self.settle_after = settle_after

    def bucket(self, name: str) -> Any:
        client = self

        class Blob:
            generation = 7

            def download_as_bytes(self, if_generation_match: int) -> bytes:
                if client.settle_after is None or client.reads < client.settle_after:
                    raise PreconditionFailed("replaced")
                return b'{"a": 1}'

        class Bucket:
            def get_blob(self, blob_name: str) -> Blob:
                client.reads += 1
                return Blob()

        return Bucket()


def test_a_document_replaced_while_read_is_read_again_a_bounded_number_of_times() -> None:
    settling = Replaced(settle_after=3)
    assert Storage(settling).read_json("b", "x") == ({"a": 1}, 7)  # type: ignore[arg-type]
    assert settling.reads == 3
    never = Replaced()
    with pytest.raises(StorageError, match="replaced on every read"):
        Storage(never).read_json("b", "x")  # type: ignore[arg-type]
    assert never.reads == MAX_UPDATE_ATTEMPTS
