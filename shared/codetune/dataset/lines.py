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
) -> Iterator[tuple[int, bytes | memoryview | None]]:
    """Yield `(line_number, line)` for each line, 1-based, without its `\\n`.

    Lines are views into the chunk read (no copy) unless they span chunks. A line longer than
    `max_line_bytes` is yielded as None and is never held in memory: the reader drops it as it
    goes and resumes at the next line. A final line without `\\n` counts.
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
        chunk = bytes(chunk)
        view = memoryview(chunk)
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if overlong or size + end - start > max_line_bytes:
                yield number, None
            elif pieces:
                pieces.append(chunk[start:end])
                yield number, b"".join(pieces)
            else:
                yield number, view[start:end]
            pieces, size, overlong = [], 0, False
            start = end + 1
        if overlong:
            continue
        if size + len(chunk) - start > max_line_bytes:
            pieces, overlong = [], True
        elif start < len(chunk):
            pieces.append(chunk[start:])
            size += len(chunk) - start
    if overlong or pieces:
        yield number + 1, None if overlong else b"".join(pieces)
