"""One dataset's story: the chain's log entries for one dataset version, in order.

The functions label every entry with the version's correlation id (codetune.logs), so one
Cloud Logging filter finds them all: `entries.list` (logging v2, REST with google-auth) for a
deployment. For the local stack, the same entries are the JSON lines the functions wrote to
their log files, read back the way Cloud Logging reads them from stdout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from codetune.exceptions import LogsRefused
from codetune.logs import COMPONENT_LABEL, CORRELATION_LABEL, LABELS

LOGGING_API = "https://logging.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/logging.read"
PAGE_SIZE = 1000
# Fields of an entry's payload that are the log call's own, not worth repeating on the line.
_SHOWN_ELSEWHERE = frozenset(
    {"message", "severity", "time", "correlation_id", "component", "logger", LABELS}
)


def entries_filter(correlation: str, after: str | None = None) -> str:
    """The Cloud Logging filter of one dataset version's entries (after a time, to follow)."""
    clause = f'labels."{CORRELATION_LABEL}"="{correlation}"'
    return clause if after is None else f'{clause} AND timestamp>"{after}"'


class CloudLogs:
    """entries.list over REST, for one project."""

    def __init__(self, project: str, endpoint: str | None = None, session: Any = None) -> None:
        self.project = project
        self.endpoint = (endpoint or LOGGING_API).rstrip("/")
        self._session = session

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests

            if self.endpoint != LOGGING_API:  # a local stand-in takes no credentials
                self._session = requests.Session()
            else:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                credentials, _ = google.auth.default(scopes=[SCOPE])
                self._session = AuthorizedSession(credentials)
        return self._session

    def entries(self, correlation: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        """Every entry of the version, oldest first, page by page."""
        request: dict[str, Any] = {
            "resourceNames": [f"projects/{self.project}"],
            "filter": entries_filter(correlation, after),
            "orderBy": "timestamp asc",
            "pageSize": PAGE_SIZE,
        }
        while True:
            answer = self.session.post(f"{self.endpoint}/v2/entries:list", json=request, timeout=60)
            if answer.status_code >= 400:
                error = (answer.json() if answer.content else {}).get("error", {})
                raise LogsRefused(
                    f"Cloud Logging refused entries.list: {error.get('message') or answer.reason}",
                    answer.status_code,
                )
            page = answer.json()
            yield from page.get("entries", [])
            token = page.get("nextPageToken")
            if not token:
                return
            request["pageToken"] = token


def _structured_lines(folder: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects the functions wrote to a local stack's log folder (one file a process),
    without the servers' own lines."""
    for path in sorted(folder.glob("*.log")):
        for raw in path.read_bytes().splitlines():
            if raw.startswith(b"{"):
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    yield payload


def local_entries(folder: Path, correlation: str) -> list[dict[str, Any]]:
    """The entries of a local stack's log folder for one version, in time order, shaped as
    Cloud Logging shows them (timestamp, severity, labels, jsonPayload)."""
    found = []
    for payload in _structured_lines(folder):
        labels = payload.get(LABELS) or {}
        if not isinstance(labels, dict) or labels.get(CORRELATION_LABEL) != correlation:
            continue
        found.append(
            {
                "timestamp": payload.get("time"),
                "severity": payload.get("severity", "DEFAULT"),
                "labels": labels,
                "jsonPayload": payload,
            }
        )
    return sorted(found, key=lambda entry: entry["timestamp"] or "")


def local_generation(folder: Path, uri: str) -> str | None:
    """The newest generation of `uri` that a local stack's functions logged."""
    found = [
        str(payload["generation"])
        for payload in _structured_lines(folder)
        if payload.get("dataset") == uri and payload.get("generation")
    ]
    return max(found, key=int, default=None)


def line(entry: dict[str, Any]) -> str:
    """One entry as a person reads it: time, function, severity, message, its fields."""
    payload = entry.get("jsonPayload") or {}
    labels = entry.get("labels") or {}
    stamp = str(entry.get("timestamp") or "")[:19].replace("T", " ")
    component = labels.get(COMPONENT_LABEL) or payload.get("component") or "?"
    message = payload.get("message") or entry.get("textPayload") or ""
    fields = " ".join(
        f"{key}={orjson.dumps(value).decode() if not isinstance(value, str) else value}"
        for key, value in payload.items()
        if key not in _SHOWN_ELSEWHERE and not key.startswith("logging.googleapis.com/")
    )
    return f"{stamp} {component:>8} {entry.get('severity', 'DEFAULT'):<7} {message}" + (
        f"  {fields}" if fields else ""
    )
