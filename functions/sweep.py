"""sweep: re-read every job not finished yet and record its state; reconcile the rest.

Trigger: Cloud Scheduler (HTTP, every minute by default). Gemini tuning jobs publish no
dependable state event, so this is how their outcome is recorded; it also rescues pipeline jobs
whose log-sink event was lost, validates uploads whose storage event was lost, and announces
again validated datasets whose message was lost.
"""

from __future__ import annotations

import os
import time

import functions_framework
import msgspec
from flask import Request

from codetune import logs
from codetune.app.finished import Announcer
from codetune.app.reconcile import reconcile
from codetune.app.status import sweep as sweep_jobs
from codetune.config import Settings
from codetune.pubsub import Publisher
from codetune.state import RecordStore
from codetune.storage import Storage
from codetune.vertex import VertexClient

logs.setup("sweep")
LOG = logs.Logger("sweep")
storage, publisher = Storage(), Publisher()
SETTINGS = Settings.from_environment().deployed()  # a bad setting stops it at start
VERTEX = VertexClient(SETTINGS.vertex)


@functions_framework.http
def sweep(request: Request) -> tuple[dict[str, int], int]:
    started = time.monotonic()  # the sweep has settings.sweep_seconds from here
    with logs.event("sweep", request.headers.get("traceparent"), SETTINGS.project):
        store = RecordStore.of(storage, SETTINGS)
        jobs = sweep_jobs(store, VERTEX, LOG, Announcer(publisher, SETTINGS))
        rest = reconcile(storage, publisher, SETTINGS, LOG, dict(os.environ), started=started)
        result = {**msgspec.structs.asdict(jobs), **msgspec.structs.asdict(rest)}
        LOG.info("sweep done", **result)
    return result, 200
