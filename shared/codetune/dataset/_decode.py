"""Each line's bytes to the object it holds, or the faults of the file itself: a line too long
to read, a byte-order mark, a blank line, bytes that are not UTF-8, text that is not JSON, a
value that is not an object, a file that is one JSON array rather than JSON Lines."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from codetune.dataset._fields import json_type
from codetune.dataset._state import PassState
from codetune.dataset.rules import MAX_LINE_BYTES, Rule

_BOM = b"\xef\xbb\xbf"


class JsonArray(msgspec.Struct):
    """A file whose first line opens a JSON array: one error for the file, none a line."""

    whole_line: bool  # line 1 holds a whole array: the file is one if no other line follows
    last_blank: int = 1  # after a whole-line array, the blank lines run to this one
    closed: bool = False  # over many lines: the last line that is not blank ends it


class LineDecoder(msgspec.Struct):
    state: PassState
    crlf_lines: int = 0
    array: JsonArray | None = None  # the file opens with a JSON array

    def first_line(self, data: bytes | memoryview) -> bytes | memoryview:
        """The first line without the byte-order mark it may start with (reported); whether it
        opens a JSON array is noted (`array`)."""
        if data[:3] == _BOM:
            self.state.error(
                Rule.BOM,
                "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM",
                1,
            )
            data = data[len(_BOM) :]
        if bytes(data).lstrip()[:1] == b"[":
            try:
                whole = type(orjson.loads(data)) is list
            except orjson.JSONDecodeError:
                whole = False
            self.array = JsonArray(whole_line=whole, closed=whole)
            self.crlf_lines += data[-1:] == b"\r"
        return data

    def in_array(self, number: int, data: bytes | memoryview | None) -> bool:
        """Whether line `number` belongs to the array the file opened with (not checked alone:
        the file is judged whole). False, once a line that is not blank follows a whole-line
        array: the file is JSON Lines after all, and its first line is reported as such."""
        array = self.array
        assert array is not None
        raw = bytes(data).strip() if data is not None else b"-"  # None: a line too long
        if array.whole_line and raw:
            self.not_an_array()
            return False
        if data is not None:
            self.crlf_lines += data[-1:] == b"\r"
        if not raw:
            array.last_blank = number
        elif not array.whole_line:
            array.closed = raw[-1:] == b"]"
        return True

    def not_an_array(self) -> None:
        """Line 1 is an array in a file of other lines: reported as any line, with the blank
        lines after it."""
        assert self.array is not None
        self.state.error(
            Rule.NOT_OBJECT, "line holds an array, not an object with the example's fields", 1
        )
        for number in range(2, self.array.last_blank + 1):
            self._blank(number)
        self.array = None

    def array_fault(self) -> None:
        """The one error of a file that is a JSON array."""
        assert self.array is not None
        whole = "is one JSON array" if self.array.closed else "opens a JSON array on line 1"
        self.state.error(
            Rule.JSON,
            f"the file {whole}: that is JSON, not JSON Lines; write one example a line, each a "
            "JSON object, without the brackets around them or the commas between them",
            1,
        )

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
            self._blank(number)
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

    def _blank(self, number: int) -> None:
        self.state.error(
            Rule.BLANK_LINE, "line is blank; every line must hold one example: delete it", number
        )
