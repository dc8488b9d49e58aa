"""sweep: re-read every job not finished yet and record its state.

Trigger: Cloud Scheduler (HTTP, every few minutes). Gemini tuning jobs publish no dependable
state event, so this is how their outcome is recorded; it also rescues pipeline jobs whose
log-sink event was lost.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from codetune.config import Settings
from codetune.exceptions import VertexError
from codetune.logs import Logger
from codetune.outcomes import record_outcome
from codetune.records import FINAL
from codetune.storage import Storage
from codetune.vertex import VertexClient

LOG = Logger("sweep")
storage = Storage()


@functions_framework.http
def sweep(request: Request) -> tuple[dict[str, int], int]:
    settings = Settings.from_environment()
    vertex = VertexClient(settings.vertex)
    checked = finished = failed = 0
    for name in storage.list_names(settings.bucket, f"{settings.system_prefix}open/"):
        pointer, _ = storage.read_json(settings.bucket, name)
        if pointer is None:
            continue
        checked += 1
        try:
            stage, _ = record_outcome(
                storage, vertex, pointer, "sweep", LOG.bind(pointer.get("correlation_id", ""))
            )
        except VertexError as fault:  # one unreadable job must not stop the sweep
            failed += 1
            LOG.error("could not re-read job", job=pointer.get("job"), error=str(fault))
            continue
        if stage in FINAL:
            storage.delete(settings.bucket, name)
            finished += 1
    LOG.info("sweep done", jobs=checked, finished=finished, unreadable=failed)
    return {"jobs": checked, "finished": finished, "unreadable": failed}, 200
