"""Each line's bytes to the object it holds, or the faults of the file itself: a line too long
to read, a byte-order mark, a blank line, bytes that are not UTF-8, text that is not JSON, a
value that is not an object."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from codetune.dataset._fields import json_type
from codetune.dataset._state import PassState
from codetune.dataset.rules import MAX_LINE_BYTES, Rule

_BOM = b"\xef\xbb\xbf"


class LineDecoder(msgspec.Struct):
    state: PassState
    crlf_lines: int = 0

    def first_line(self, data: bytes | memoryview) -> bytes | memoryview:
        """The first line without the byte-order mark it may start with (reported)."""
        if data[:3] != _BOM:
            return data
        self.state.error(
            Rule.BOM, "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM", 1
        )
        return data[len(_BOM) :]

    def too_long(self, number: int) -> None:
        """A line longer than the reader holds."""
        self.state.error(Rule.LINE_LENGTH, f"line is longer than {MAX_LINE_BYTES:,} bytes", number)

    def decode(self, number: int, data: bytes | memoryview) -> dict[str, Any] | None:
        """The object on line `number`; None, reported, when the line holds none."""
        if data[-1:] == b"\r":
            self.crlf_lines += 1
        try:
            example = orjson.loads(data)
        except orjson.JSONDecodeError as fault:
            self._json_fault(number, bytes(data), fault)
            return None
        if type(example) is not dict:
            self.state.error(
                Rule.NOT_OBJECT,
                f"line holds {json_type(example)}, not an object with the example's fields",
                number,
            )
            return None
        return example

    def _json_fault(self, number: int, data: bytes, fault: orjson.JSONDecodeError) -> None:
        if not data.strip():  # checked only here: a blank line is not JSON either
            self.state.error(
                Rule.BLANK_LINE,
                "line is blank; every line must hold one example: delete it",
                number,
            )
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            self.state.error(
                Rule.ENCODING,
                f"byte {bad.start + 1} of the line is not UTF-8 ({bad.reason}); "
                "save the file as UTF-8",
                number,
            )
            return
        self.state.error(Rule.JSON, f"not valid JSON: {fault.msg} (column {fault.colno})", number)
