"""sweep: re-read every job not finished yet and record its state.

Trigger: Cloud Scheduler (HTTP, every few minutes). Gemini tuning jobs publish no dependable
state event, so this is how their outcome is recorded; it also rescues pipeline jobs whose
log-sink event was lost.
"""

from __future__ import annotations

import dataclasses

import functions_framework
from flask import Request

from codetune import logs
from codetune.app.status import sweep as sweep_jobs
from codetune.config import Settings
from codetune.state import RecordStore
from codetune.storage import Storage
from codetune.vertex import VertexClient

logs.setup("sweep")
LOG = logs.Logger("sweep")
storage = Storage()


@functions_framework.http
def sweep(request: Request) -> tuple[dict[str, int], int]:
    settings = Settings.from_environment()
    logs.begin("sweep", request.headers.get("traceparent"), settings.project)
    store = RecordStore(storage, settings.bucket, settings.system_prefix)
    result = sweep_jobs(store, VertexClient(settings.vertex), LOG)
    logs.begin("sweep", request.headers.get("traceparent"), settings.project)
    LOG.info("sweep done", **dataclasses.asdict(result))
    return dataclasses.asdict(result), 200
