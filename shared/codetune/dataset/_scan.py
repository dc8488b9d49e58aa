"""Each example line's one scan (keys.LineScan): the secret pre-filter, whose hits go to the
detectors, and the test for a key written twice."""

from __future__ import annotations

from typing import Any

import msgspec

from codetune.dataset._state import PassState
from codetune.dataset.keys import (
    CANONICAL_TRIES,
    LONG_TURN_BYTES,
    LineScan,
    as_written,
    duplicate_keys,
    key_counts,
    shown_key,
)
from codetune.dataset.rules import Rule
from codetune.dataset.secrets import SecretScan

# The keys a generation example of the fast path holds, each once.
_GENERATION_KEYS = {"input_text": 1, "output_text": 1}


class LineScanner(msgspec.Struct):
    state: PassState
    scan: LineScan
    secrets: SecretScan | None = None
    canonical_misses: int = 0  # conversations in a row not written as orjson writes them

    def any(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        """A line of any shape: its keys counted."""
        self.scanned(number, data, example, self.scan.scan(data), key_counts(example))

    def generation(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        """A well-formed generation example, whose two keys are known."""
        hits = self.scan.scan(data)
        if hits:  # most lines: no secret to look for, no key written twice
            self.scanned(number, data, example, hits, _GENERATION_KEYS)

    def scanned(
        self,
        number: int,
        data: bytes | memoryview,
        example: dict[str, Any],
        hits: list[int],
        counts: dict[str, int],
    ) -> None:
        """What the line's scan found: strings worth the secret detectors, a key that may be
        written twice (`counts`: how often the decoded line holds each key)."""
        if self.secrets is not None and self.scan.secret(hits):
            self.secrets.examine(number, example, self.state)
        if self.scan.may_repeat(hits, data, counts):
            self._duplicate_keys(number, data)

    def conversation(
        self,
        number: int,
        data: bytes | memoryview,
        example: dict[str, Any],
        turns: int,
        seed: bool = True,
    ) -> None:
        """A conversation's scan: compared with orjson's writing of it while the file is written
        so, else (and when its turns are long) its keys counted. `seed`: a well-formed seed
        conversation of `turns` messages, whose keys are known."""
        scan = self.scan
        if self.canonical_misses < CANONICAL_TRIES and len(data) <= LONG_TURN_BYTES * turns:
            secrets_only = scan.secrets_only
            if secrets_only is not None:
                hits = secrets_only(data)
                if hits and self.secrets is not None:
                    self.secrets.examine(number, example, self.state)
            if as_written(example, data):
                self.canonical_misses = 0
                return
            self.canonical_misses += 1
            hits = scan.scan(data)
            checked = True  # its secrets were looked for
        else:
            hits = scan.scan(data)
            checked = False
        if seed and scan.conversation_hits(hits, turns):
            return
        if not checked and self.secrets is not None and scan.secret(hits):
            self.secrets.examine(number, example, self.state)
        if seed:
            counts = {"messages": 1, "author": turns, "content": turns}
            if "context" in example:
                counts["context"] = 1
        else:
            counts = key_counts(example)
        if scan.may_repeat(hits, data, counts):
            self._duplicate_keys(number, data)

    def _duplicate_keys(self, number: int, data: bytes | memoryview) -> None:
        found = duplicate_keys(data)
        if found is None:  # json cannot read what orjson read: never seen, but never valid
            found = [("", "")]
        for field, key in found:
            named = f"key {shown_key(key)!r}" if field else "a key"
            self.state.error(
                Rule.DUPLICATE_KEY,
                f"{named} is written more than once in this object; parsers disagree on which "
                "value counts (RFC 8259: 'the behavior of software that receives such an object "
                "is unpredictable'): keep one",
                number,
                field or None,
            )
