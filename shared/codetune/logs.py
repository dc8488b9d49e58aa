"""Structured logs that Cloud Logging understands, through the standard `logging` module.

`setup(component)` installs one `CloudLoggingFormatter` on the root logger, so every record
(ours, a library's warning, an uncaught exception's traceback) comes out as one JSON object a
line on stdout. Cloud Logging reads from such a line (structured logging, "special JSON
fields"): `severity`, `message`, `time`, `logging.googleapis.com/labels` (the entry's labels),
`logging.googleapis.com/trace`, `logging.googleapis.com/spanId` and
`logging.googleapis.com/trace_sampled`. The correlation id goes into the labels, so one filter
follows one dataset through every function:

    labels."codetune/correlation_id"="ct-…"

Never pass dataset contents: they may be private code. Log names, counts, rules and states.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
import orjson

CORRELATION_LABEL = "codetune/correlation_id"
COMPONENT_LABEL = "codetune/component"
LABELS = "logging.googleapis.com/labels"
TRACE = "logging.googleapis.com/trace"
SPAN = "logging.googleapis.com/spanId"
SAMPLED = "logging.googleapis.com/trace_sampled"
# W3C Trace Context: version-traceid-parentid-flags.
_TRACEPARENT = re.compile(
    r"^[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$"
)
# logging's own LogRecord attributes: anything else on a record is a field of ours.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SEVERITY = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def correlation_id(dataset_uri: str, generation: str | None) -> str:
    """The same id for the same dataset version, in every function and every retry."""
    digest = hashlib.sha256(f"{dataset_uri}#{generation or ''}".encode()).hexdigest()[:20]
    return f"ct-{digest}"


class Context(msgspec.Struct, frozen=True):
    """What every record logged while handling one event carries."""

    component: str = ""
    correlation: str | None = None
    trace: str | None = None  # projects/P/traces/TRACE_ID
    span: str | None = None
    sampled: bool = False
    project: str = ""  # for the trace of a traceparent learned later (Logger.bind)


_NO_CONTEXT = Context()
_context: contextvars.ContextVar[Context] = contextvars.ContextVar(
    "codetune_log", default=_NO_CONTEXT
)


def trace_fields(traceparent: str | None, project: str) -> dict[str, Any]:
    """Cloud Logging's trace fields from a W3C `traceparent`, none when it is absent or malformed."""
    match = _TRACEPARENT.match(traceparent or "")
    if match is None or not project:
        return {}
    return {
        "trace": f"projects/{project}/traces/{match['trace']}",
        "span": match["span"],
        "sampled": bool(int(match["flags"], 16) & 1),
    }


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per record, in the fields Cloud Logging reads."""

    def format(self, record: logging.LogRecord) -> str:
        context = _context.get()
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, record.levelname),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        component = getattr(record, "component", None) or context.component
        correlation = getattr(record, "correlation_id", None) or context.correlation
        if component:
            entry["component"] = component
        entry.update(
            {
                k: v
                for k, v in vars(record).items()
                if k not in _RECORD_ATTRIBUTES and k not in entry
            }
        )
        labels = {COMPONENT_LABEL: component} if component else {}
        if correlation:
            entry["correlation_id"] = correlation
            labels[CORRELATION_LABEL] = correlation
        if labels:
            entry[LABELS] = labels
        if context.trace:
            entry[TRACE] = context.trace
            entry[SPAN] = context.span
            entry[SAMPLED] = context.sampled
        if record.exc_info:
            # Error Reporting reads a stack trace from the message or from `stack_trace`.
            entry["stack_trace"] = "".join(traceback.format_exception(*record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def setup(component: str, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send every record through one CloudLoggingFormatter on `stream` (stdout); idempotent."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, CloudLoggingFormatter):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    _context.set(Context(component=component))


@contextlib.contextmanager
def event(component: str, traceparent: str | None = None, project: str = "") -> Iterator[None]:
    """Handle one event: its trace on every record logged inside, nothing of it after."""
    token = _context.set(
        Context(component=component, project=project, **trace_fields(traceparent, project))
    )
    try:
        yield
    finally:
        _context.reset(token)


class Logger:
    """A logger bound to one function and, once known, one dataset's correlation id.

    `log.info("message", field=value)`: fields become JSON fields of the entry.
    """

    def __init__(self, component: str, correlation: str | None = None) -> None:
        self.component = component
        self.correlation = correlation
        self._logger = logging.getLogger(f"codetune.{component}")

    def bind(self, correlation: str) -> Logger:
        """This logger for one dataset: its own records carry the dataset's id."""
        return Logger(self.component, correlation)

    @contextlib.contextmanager
    def bound(self, correlation: str, traceparent: str | None = None) -> Iterator[Logger]:
        """This logger for one dataset, and inside the block library records carry its id too,
        and the dataset's trace (the upload's `traceparent`, for a function its event does not
        carry it to: status and the sweep) when the event brought none. Nothing after it."""
        current = _context.get()
        context = Context(
            current.component or self.component,
            correlation,
            current.trace,
            current.span,
            current.sampled,
            current.project,
        )
        if current.trace is None and traceparent:
            context = msgspec.structs.replace(context, **trace_fields(traceparent, current.project))
        token = _context.set(context)
        try:
            yield Logger(self.component, correlation)
        finally:
            _context.reset(token)

    def log(self, level: int, message: str, fields: Mapping[str, Any]) -> None:
        # A field named like a LogRecord attribute (name, args, ...) would clash: prefix it.
        extra = {(f"field_{k}" if k in _RECORD_ATTRIBUTES else k): v for k, v in fields.items()}
        extra["component"] = self.component
        if self.correlation:
            extra["correlation_id"] = self.correlation
        self._logger.log(level, message, extra=extra, stacklevel=3)

    def info(self, message: str, **fields: Any) -> None:
        self.log(logging.INFO, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log(logging.WARNING, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log(logging.ERROR, message, fields)
