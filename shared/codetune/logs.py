"""Structured logs that Cloud Logging understands: one JSON object a line on stdout.

Cloud Logging reads `severity` and `message` from such a line, and `logging.googleapis.com/labels`
as the entry's labels: the correlation id goes there, so one filter follows one dataset through
all three functions:

    labels."codetune/correlation_id"="ct-…"

Never pass dataset contents: they may be private code. Log names, counts, rules and states.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

CORRELATION_LABEL = "codetune/correlation_id"


def correlation_id(dataset_uri: str, generation: str | None) -> str:
    """The same id for the same dataset version, in every function and every retry."""
    digest = hashlib.sha256(f"{dataset_uri}#{generation or ''}".encode()).hexdigest()[:20]
    return f"ct-{digest}"


class Logger:
    """A logger bound to one function and, once known, one dataset's correlation id."""

    def __init__(
        self, component: str, correlation: str | None = None, out: TextIO | None = None
    ) -> None:
        self.component = component
        self.correlation = correlation
        self.out = out

    def bind(self, correlation: str) -> Logger:
        return Logger(self.component, correlation, self.out)

    def log(self, severity: str, message: str, **fields: Any) -> None:
        entry: dict[str, Any] = {
            "severity": severity,
            "message": message,
            "time": datetime.now(UTC).isoformat(),
            "component": self.component,
            **fields,
        }
        labels = {"codetune/component": self.component}
        if self.correlation:
            entry["correlation_id"] = self.correlation
            labels[CORRELATION_LABEL] = self.correlation
        entry["logging.googleapis.com/labels"] = labels
        out = self.out or sys.stdout
        out.write(orjson.dumps(entry, default=str).decode() + "\n")
        out.flush()

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)
