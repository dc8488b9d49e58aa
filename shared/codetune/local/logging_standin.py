"""A local stand-in for Cloud Logging's `entries.list` (logging v2), for `codetune logs`.

Google offers no Cloud Logging emulator. This one serves `POST /v2/entries:list` over HTTP
like the real API: the body is checked against the official `ListLogEntriesRequest` schema
(logging v2 discovery document), `resourceNames` is required, and the filter may be what
codetune sends, `labels."KEY"="VALUE"` optionally `AND timestamp>"TIME"` (anything else is a
400 INVALID_ARGUMENT, as a filter the real service could not parse would be: this stand-in
knows that subset only). Entries are held as `LogEntry` objects, checked against that schema;
`from_structured_lines` turns what a function writes to stdout into the entry Cloud Logging
makes of it (special JSON fields lifted out, the rest the jsonPayload). Answers page by
`pageSize` with `nextPageToken`; `refuse(403)` makes the next answer a permission error.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import orjson

from codetune.local.discovery import json_schema
from codetune.local.http import LocalEndpoint
from codetune.logs import LABELS, SAMPLED, SPAN, TRACE

_FILTER = re.compile(
    r'^labels\."(?P<key>[^"]+)"="(?P<value>[^"]*)"(?: AND timestamp>"(?P<after>[^"]+)")?$'
)


class LoggingStandIn(LocalEndpoint):
    def __init__(self, project: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.project = project
        self.entries: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._refusals: list[int] = []
        self._request_schema = jsonschema.Draft202012Validator(
            json_schema("logging", "v2", "ListLogEntriesRequest", request=True)
        )
        self._entry_schema = jsonschema.Draft202012Validator(
            json_schema("logging", "v2", "LogEntry")
        )

    def respond(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        return self.handle(path, body)

    def refuse(self, status: int) -> None:
        self._refusals.append(status)

    def add(self, entry: dict[str, Any]) -> None:
        errors = [e.message for e in self._entry_schema.iter_errors(entry)]
        if errors:
            raise ValueError(f"not a LogEntry: {errors[0]}")
        self.entries.append(entry)

    def from_structured_lines(self, lines: list[bytes], service: str) -> None:
        """Add what a function wrote to stdout, as Cloud Logging records it (structured
        logging: severity, time, labels, trace and span lifted out of the JSON line)."""
        for number, raw in enumerate(lines):
            if not raw.startswith(b"{"):
                continue
            payload = orjson.loads(raw)
            entry: dict[str, Any] = {
                "logName": f"projects/{self.project}/logs/run.googleapis.com%2Fstdout",
                "resource": {
                    "type": "cloud_run_revision",
                    "labels": {"service_name": service, "project_id": self.project},
                },
                "insertId": f"{service}-{number}",
                "timestamp": payload.pop("time", None),
                "severity": payload.pop("severity", "DEFAULT"),
                "labels": payload.pop(LABELS, {}),
            }
            if TRACE in payload:
                entry["trace"] = payload.pop(TRACE)
                entry["spanId"] = payload.pop(SPAN, None)
                entry["traceSampled"] = payload.pop(SAMPLED, False)
            entry["jsonPayload"] = payload
            self.add({k: v for k, v in entry.items() if v is not None})

    def handle(self, path: str, raw: bytes) -> tuple[int, Any]:
        if self._refusals:
            status = self._refusals.pop(0)
            return status, _error(status, "PERMISSION_DENIED", "Permission denied for logs")
        if path != "/v2/entries:list":
            return 404, _error(404, "NOT_FOUND", f"no method {path}")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 400, _error(400, "INVALID_ARGUMENT", "Invalid JSON payload")
        self.requests.append(body)
        problems = [e.message for e in self._request_schema.iter_errors(body)]
        if problems or not body.get("resourceNames"):
            reason = problems[0] if problems else "resourceNames is required"
            return 400, _error(400, "INVALID_ARGUMENT", reason)
        match = _FILTER.match(body.get("filter", ""))
        if match is None:
            return 400, _error(400, "INVALID_ARGUMENT", "unsupported filter (stand-in)")
        found = [
            entry
            for entry in self.entries
            if (entry.get("labels") or {}).get(match["key"]) == match["value"]
            and (match["after"] is None or entry["timestamp"] > match["after"])
        ]
        descending = body.get("orderBy", "timestamp asc") == "timestamp desc"
        found.sort(key=lambda entry: entry["timestamp"], reverse=descending)
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 50)
        page: dict[str, Any] = {"entries": found[start : start + size]}
        if start + size < len(found):
            page["nextPageToken"] = str(start + size)
        return 200, page


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message}}
