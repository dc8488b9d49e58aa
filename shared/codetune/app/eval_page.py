"""When the verdict is in: the evaluation page in the state bucket (codetune.evaluation.page),
for operators (`codetune report DATASET_URI --eval-html FILE`).

A page that cannot be written is logged and never keeps the verdict from being recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from codetune.evaluation.plan import ExampleResult
from codetune.exceptions import CodetuneError
from codetune.logs import Logger
from codetune.state import Record, RecordStore

PAGE_TYPE = "text/html; charset=utf-8"


def write_eval_page(
    store: RecordStore,
    dataset: str,
    record: Record,
    results: Sequence[ExampleResult],
    log: Logger,
) -> str | None:
    """The version's evaluation page, beside its answers in the state bucket: its gs:// URI, or
    None when it could not be written."""
    from codetune.evaluation.page import MAX_EXAMPLES, render  # only a verdict pays for these

    bucket, name = store.eval_page_location(dataset, record.generation or "")
    page = f"gs://{bucket}/{name}"
    try:
        with store.storage.writer(bucket, name, PAGE_TYPE) as out:
            out.write(render(record, results).encode())
    except CodetuneError as fault:
        log.error("evaluation page not written", page=page, error=str(fault))
        return None
    verdict = record.evaluation.verdict if record.evaluation else None
    log.info(
        "evaluation page written",
        page=page,
        examples=len(results),
        shown=min(len(results), MAX_EXAMPLES),
        worse=verdict.worse if verdict else [],
    )
    return page
