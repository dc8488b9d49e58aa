"""The dataset validator: one pass over a JSONL byte stream, every rule of S-1 to S-9.

`validate_stream` reads the stream line by line and keeps only counters and a bounded table of
example fingerprints (for duplicates), so memory does not grow with the file. Nothing a file
contains raises: every fault becomes a finding with its line, field and rule.

This module is the driver: it streams the lines, keeps the time limit and assembles the report.
Each line is decoded (`_decode`), then checked by the file's format checker (`_formats`, chosen
once by `_detect`), which scans it (`_scan`) and hands each well-formed example to the
measurement (`_measure`); the rules about the whole file are `_file_rules`'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from codetune.dataset._decode import LineDecoder
from codetune.dataset._detect import checker_for
from codetune.dataset._file_rules import FileRules
from codetune.dataset._formats import FormatChecker
from codetune.dataset._measure import Measurement
from codetune.dataset._scan import LineScanner
from codetune.dataset._state import PassState
from codetune.dataset.checks import ExampleCheck, TimeShare
from codetune.dataset.lines import ByteStream, read_lines
from codetune.dataset.report import ValidationReport
from codetune.dataset.rules import (
    MAX_LINE_BYTES,
    DatasetFormat,
    DatasetKind,
    DatasetRole,
    Rule,
    RuleSet,
    SecretSeverity,
)
from codetune.dataset.secrets import SecretScan, line_scan
from codetune.dataset.tokens import Estimate, TokenCounter, TokenStats


class _Validation(msgspec.Struct):
    """One pass over a dataset: its parts, and what the driver itself counts."""

    state: PassState
    decoder: LineDecoder
    scan: LineScanner
    measure: Measurement
    counts: FileRules
    time: TimeShare  # of the whole pass
    checker: FormatChecker  # the file's: chosen once its first example is read
    lines: int = 0
    bytes_read: int = 0
    check_stats: dict[str, Any] = msgspec.field(default_factory=dict)

    def read(self, lines: Iterator[tuple[int, bytes | memoryview | None]]) -> None:
        """Every line: the first as the file's opening (a byte-order mark, a JSON array), each
        after it as an example, or as a part of the array the file opened with."""
        for number, data in lines:
            self.first(number, data)
            break
        line = self.line if self.decoder.array is None else self.in_array
        for number, data in lines:
            line(number, data)

    def first(self, number: int, data: bytes | memoryview | None) -> None:
        if data is not None:
            data = self.decoder.first_line(data)
            if self.decoder.array is not None:
                self.lines = number
                return
        self.line(number, data)

    def in_array(self, number: int, data: bytes | memoryview | None) -> None:
        if self.decoder.array is not None and self.decoder.in_array(number, data):
            self.lines = number
        else:
            self.line(number, data)

    def line(self, number: int, data: bytes | memoryview | None) -> None:
        """One line: decoded, then checked as an example of the file's format."""
        self.lines = number
        if data is None:
            self.decoder.too_long(number)
            return
        example = self.decoder.decode(number, data)
        if example is None:
            return
        counts = self.counts
        counts.examples += 1
        if counts.examples in counts.marks:
            counts.crossed(number)
        self.checker.line(number, data, example)

    def stop(self) -> None:
        """The time limit has passed: the lines not yet read are never checked."""
        array = self.decoder.array
        if array is not None and array.whole_line:  # what follows it was never read
            self.decoder.not_an_array()
        self.state.error(
            Rule.TIME_LIMIT,
            f"validation stopped here, {self.time.seconds:g} seconds in (the deployment's limit), with "
            f"{self.bytes_read:,} bytes read: this line and those after it were not checked, and "
            "no job runs on data that was not; make the file smaller, or ask the deployment's "
            "operators for a longer limit (CODETUNE_VALIDATION_SECONDS)",
            self.time.stopped_at,
        )

    def finish(self) -> None:
        """Rules about the whole file, checked once every line has been read (none when the
        time limit stopped the pass: they would describe part of it), and the checks'."""
        self.measure.fold()
        if self.decoder.array is not None:
            self.decoder.array_fault()  # and nothing else: the file is not JSON Lines
        elif self.time.stopped_at is None:
            self.counts.finish(self.measure)
        self.check_stats = self.measure.check_stats()
        if self.scan.secrets is not None:
            self.check_stats[self.scan.secrets.name] = self.scan.secrets.stats()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "lines": self.lines,
            "bytes": self.bytes_read,
            "complete": self.time.stopped_at is None,
            "crlf_lines": self.decoder.crlf_lines,
            "kind_detected_on_line": self.state.kind_line,
            **self.measure.stats(),
            **self.check_stats,
        }
        if self.state.kind is DatasetKind.CHAT:
            stats.update(self.counts.chat_stats())
        return stats


def _validation(
    state: PassState,
    checks: Sequence[ExampleCheck],
    secrets: SecretSeverity,
    tokenizer: TokenCounter | None,
    time: TimeShare,
) -> _Validation:
    """A pass's parts, its checker the one for what is known before the first line."""
    scan = LineScanner(
        state,
        line_scan(secrets is not SecretSeverity.OFF),
        None if secrets is SecretSeverity.OFF else SecretScan(secrets),
    )
    measure = Measurement(state, TokenStats(tokenizer or Estimate()), checks)
    counts = FileRules(state)

    def choose(checker: FormatChecker) -> None:
        validation.checker = checker

    first = checker_for(state, scan, measure, counts, choose)
    validation = _Validation(state, LineDecoder(state), scan, measure, counts, time, first)
    return validation


class _OutOfTime(Exception):
    """Raised from the reader's callback to end the pass at the time limit."""


def validate_stream(
    stream: ByteStream,
    dataset: str,
    kind: DatasetKind | None = None,
    role: DatasetRole = DatasetRole.TRAINING,
    on_progress: Callable[[int], None] | None = None,
    *,
    rules: RuleSet,
    format: DatasetFormat | None = None,
    checks: Sequence[ExampleCheck] = (),
    secrets: SecretSeverity = SecretSeverity.ERROR,
    tokenizer: TokenCounter | None = None,
    time_limit: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    beside: Iterable[tuple[str, str, bool]] = (),
) -> ValidationReport:
    """Validate the JSONL dataset read from `stream` (bytes), named `dataset` in the report.

    `kind` and `format` None detect them from the first example. `on_progress` is called with
    the number of bytes read so far, after each chunk. `checks` see every well-formed example
    in the same pass (codetune.dataset.checks); their stats join the report's under their names.
    Every example is scanned for credentials (codetune.dataset.secrets) unless `secrets` is off.
    Tokens are counted by `tokenizer`, else estimated (codetune.dataset.tokens).
    `beside` are the strings set beside the dataset, `(field, text, is a key)`: its manifest's
    and its metadata's (codetune.tuning.sources.layer_strings), scanned for credentials as the
    examples are; a finding names the field (`manifest: parameters.default_context`), no line.
    A pass still reading `time_limit` seconds after it began (checked as each chunk is read)
    stops there, and the report's `time-limit` error names the first line left unchecked.
    """
    if format in (DatasetFormat.GEMINI, DatasetFormat.OPENAI):
        kind = DatasetKind.CHAT  # conversations
    state = PassState(kind=kind, role=role, rules=rules, format=format)
    if kind is not None:
        state.check_kind_for_role()
    # The clock is read as each chunk is read.
    validation = _validation(state, checks, secrets, tokenizer, TimeShare(time_limit, clock, 1))

    def count(size: int) -> None:
        if validation.time.out(validation.lines + 1):
            raise _OutOfTime
        validation.bytes_read += size
        if on_progress is not None:
            on_progress(validation.bytes_read)

    try:
        validation.read(read_lines(stream, MAX_LINE_BYTES, on_bytes=count))
    except _OutOfTime:
        validation.stop()
    if validation.scan.secrets is not None:
        validation.scan.secrets.beside(beside, state)
    validation.finish()
    return ValidationReport(
        dataset=dataset,
        kind=state.kind,
        role=role,
        examples=validation.counts.examples,
        errors=state.errors,
        warnings=state.warnings,
        stats=validation.stats(),
        rules=rules,
        format=str(state.format or DatasetFormat.SEED),
    )


def validate_path(
    path: str | Path,
    kind: DatasetKind | None = None,
    role: DatasetRole = DatasetRole.TRAINING,
    on_progress: Callable[[int], None] | None = None,
    *,
    rules: RuleSet,
    format: DatasetFormat | None = None,
    checks: Sequence[ExampleCheck] = (),
    secrets: SecretSeverity = SecretSeverity.ERROR,
    tokenizer: TokenCounter | None = None,
    beside: Iterable[tuple[str, str, bool]] = (),
) -> ValidationReport:
    """Validate a local file. Raises OSError when it cannot be read."""
    with open(path, "rb") as stream:
        return validate_stream(
            stream,
            str(path),
            kind,
            role,
            on_progress,
            rules=rules,
            format=format,
            checks=checks,
            secrets=secrets,
            tokenizer=tokenizer,
            beside=beside,
        )
