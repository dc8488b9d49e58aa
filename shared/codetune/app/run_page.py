"""When a job ends: its training metrics into the record, and the run page beside the dataset.

Neither may keep the end from being recorded: metrics that cannot be read become a note in the
record (codetune.tuning.curves), and a page that cannot be written is logged.
"""

from __future__ import annotations

from typing import Any

from codetune.exceptions import CodetuneError
from codetune.logs import Logger
from codetune.state import FINAL, JobPointer, Record, RecordStore, Stage
from codetune.state.records import Curves
from codetune.tuning.backends import TuningBackend
from codetune.tuning.backends.base import VertexAI

PAGE_TYPE = "text/html; charset=utf-8"


def ended_curves(
    backend: TuningBackend,
    vertex: VertexAI,
    job: dict[str, Any],
    store: RecordStore,
    pointer: JobPointer,
) -> Curves | None:
    """The ended job's metrics, read once: None when there is no job resource or when its
    record has ended already (a repeated event)."""
    if not job:
        return None
    record = store.record(pointer.dataset, pointer.generation)
    if record is None or record.state in FINAL or record.state is Stage.EVALUATING:
        return None
    return backend.curves(vertex, job)


def write_run_page(store: RecordStore, dataset: str, record: Record, log: Logger) -> None:
    """The run page where the version's report is (beside the dataset, or in the state bucket
    for a name too long)."""
    from codetune.run_html import render  # here: only an ended job pays for the page's imports

    bucket, name = store.run_page_location(dataset)
    try:
        with store.storage.writer(bucket, name, PAGE_TYPE) as page:
            page.write(render(record).encode())
    except CodetuneError as fault:
        log.error("run page not written", page=f"gs://{bucket}/{name}", error=str(fault))
        return
    curves = record.curves
    log.info(
        "run page written",
        page=f"gs://{bucket}/{name}",
        series=len(curves.series) if curves else 0,
        metrics_note=curves.note if curves else None,
    )
