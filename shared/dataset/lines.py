"""Split a byte stream into lines in constant memory, whatever the file's size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

CHUNK_BYTES = 1024 * 1024


class ByteStream(Protocol):
    """Anything with `read(n) -> bytes`: a file opened "rb", a Cloud Storage blob reader, ..."""

    def read(self, size: int = ..., /) -> bytes: ...


def read_lines(
    stream: ByteStream,
    max_line_bytes: int,
    on_bytes: Callable[[int], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[int, bytes | None]]:
    """Yield `(line_number, line)` for each line, 1-based, without its `\\n`.

    A line longer than `max_line_bytes` is yielded as None and is never held in memory: the
    reader drops it as it goes and resumes at the next line. A final line without `\\n` counts.
    """
    number = 0
    pieces: list[bytes] = []  # the current line, when it spans chunks
    size = 0
    overlong = False
    while chunk := stream.read(chunk_bytes):
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError("the dataset stream must be opened in binary mode")
        if on_bytes is not None:
            on_bytes(len(chunk))
        parts = bytes(chunk).split(b"\n")
        tail = parts.pop()
        for part in parts:
            number += 1
            if overlong or size + len(part) > max_line_bytes:
                yield number, None
            elif pieces:
                pieces.append(part)
                yield number, b"".join(pieces)
            else:
                yield number, part
            pieces, size, overlong = [], 0, False
        if overlong:
            continue
        if size + len(tail) > max_line_bytes:
            pieces, overlong = [], True
        elif tail:
            pieces.append(tail)
            size += len(tail)
    if overlong or pieces:
        yield number + 1, None if overlong else b"".join(pieces)
