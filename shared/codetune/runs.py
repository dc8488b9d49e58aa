"""Every dataset version of a deployment at a glance (`codetune runs`): one paged listing of the
records, whose stage travels in their object metadata, filtered and ordered newest first from
that listing alone, and then reads of only the rows shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import msgspec

from codetune.exceptions import InputError
from codetune.ports import ListedObject
from codetune.state import FINAL, Record, RecordStore
from codetune.state.records import why_no_model
from codetune.state.store import STAGE_METADATA


class Run(msgspec.Struct, frozen=True, omit_defaults=True):
    """One dataset version, as a row."""

    dataset: str
    generation: str
    stage: str
    base_model: str | None = None
    job: str | None = None
    started: str | None = None  # its first step (the validation)
    seconds: float | None = None  # from its first step to its last
    examples: int | None = None
    estimated_tokens: int | None = None  # training tokens, before the job (derived.cost)
    billed_tokens: int | None = None  # what Google counted (data_stats), once it ran
    estimated_cost_usd: float | None = None
    tuned_model: str | None = None
    reason: str | None = None  # why it has no tuned model, when it ended without one
    progress: str | None = None  # while its job runs, as Vertex AI last reported it
    # The tuned model against its base (docs/evaluation.md), in a few words, and the metrics
    # it is worse on beyond the interval.
    evaluation: str | None = None
    worse: tuple[str, ...] = ()


def runs(
    store: RecordStore,
    *,
    stage: str | None = None,
    since: datetime | None = None,
    model: str | None = None,
    prefix: str = "",
    limit: int = 50,
) -> list[Run]:
    """The newest `limit` versions that pass the filters. Stage, name and time filter the
    listing itself; the base model needs the record, so it is read row by row."""
    rows: list[Run] = []
    for listed in _newest_first(store.listed_records(), store, stage, since, prefix):
        if len(rows) >= limit:
            break
        try:
            document, _ = store.storage.read_json(store.bucket, listed.name)
            record = None if document is None else Record.from_json(document)
        except (InputError, ValueError):
            continue  # an unreadable record is the sweep's to report
        if record is None or (model is not None and record.base_model != model):
            continue
        rows.append(row(record))
    return rows


def _newest_first(
    listing: list[ListedObject],
    store: RecordStore,
    stage: str | None,
    since: datetime | None,
    prefix: str,
) -> Iterator[ListedObject]:
    head = f"{store.prefix}records/{prefix}"
    chosen = [
        listed
        for listed in listing
        if listed.name.startswith(head)
        and (stage is None or listed.metadata.get(STAGE_METADATA) == stage)
        and (since is None or (listed.updated is not None and listed.updated >= since))
    ]
    # Generations are Cloud Storage's microsecond clock: newest upload first.
    yield from sorted(chosen, key=lambda listed: _generation(listed.name), reverse=True)


def _generation(name: str) -> int:
    leaf = name.rpartition("/")[2].removesuffix(".json")
    return int(leaf) if leaf.isdigit() else 0


def row(record: Record) -> Run:
    """A record as a row of the overview."""
    history = record.history
    started = history[0].time if history else None
    seconds = (
        round(
            (
                datetime.fromisoformat(history[-1].time) - datetime.fromisoformat(history[0].time)
            ).total_seconds(),
            1,
        )
        if len(history) > 1
        else None
    )
    cost = (record.derived or {}).get("cost") or {}
    return Run(
        dataset=record.dataset or "?",
        generation=record.generation or "?",
        stage=str(record.state),
        base_model=record.base_model,
        job=record.job.name if record.job else None,
        started=started,
        seconds=seconds,
        examples=record.examples,
        estimated_tokens=cost.get("training_tokens"),
        billed_tokens=record.data_stats.billable_tokens if record.data_stats else None,
        estimated_cost_usd=cost.get("estimated_cost_usd"),
        tuned_model=record.tuned_model.model if record.tuned_model else None,
        reason=why_no_model(record),
        progress=record.progress.describe()
        if record.progress is not None and record.state not in FINAL
        else None,
        evaluation=record.evaluation.brief()
        if record.evaluation is not None and _evaluated(record)
        else None,
        worse=record.evaluation.worse if record.evaluation else (),
    )


def _evaluated(record: Record) -> bool:
    """An evaluation past its plan (a job that has not ended has nothing to say)."""
    return record.evaluation is not None and record.evaluation.state != "planned"


def table(rows: list[Run]) -> str:
    """The rows for people: one line each, newest first."""
    lines = [
        f"{'dataset':<48} {'stage':<10} {'base model':<22} {'examples':>8} {'tokens':>12} "
        f"{'cost':>9}  tuned model or reason"
    ]
    for run in rows:
        name = run.dataset.removeprefix("gs://")
        tokens = run.billed_tokens or run.estimated_tokens
        cost = f"${run.estimated_cost_usd:,.2f}" if run.estimated_cost_usd is not None else "?"
        lines.append(
            f"{name[-48:]:<48} {run.stage:<10} {run.base_model or '-':<22} "
            f"{run.examples or 0:>8,} {tokens or 0:>12,} {cost:>9}  "
            f"{run.tuned_model or run.reason or run.progress or ''}"
            + (f" ({run.evaluation})" if run.evaluation else "")
        )
    return "\n".join(lines)
