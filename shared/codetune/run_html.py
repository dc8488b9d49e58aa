"""A dataset version's tuning run as one self-contained HTML page (`*.run.html`,
`codetune report --html FILE`).

Like the validation page (dataset/html.py): no script, no external fetch, styles inline, curves
as inline SVG. It shows only what the record holds (stages, counts, lines, metrics, names, the
evaluation's verdict), never the dataset's contents, and every value is escaped: the record is
untrusted input. Its links go to the console, and to the evaluation page beside it.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from codetune.dataset.html import _STYLE as _REPORT_STYLE
from codetune.evaluation.page import VERDICT_STYLE, evaluation_summary
from codetune.state.records import FINAL, Curves, Record, Series, timeline, why_no_model
from codetune.tuning.curves import TRAINING_LOSS, VALIDATION_LOSS, job_console

CONSOLE = "https://console.cloud.google.com/"  # the only links the page makes
_STYLE = (
    _REPORT_STYLE
    + """
.SUCCEEDED{background:#1a7f37}.FAILED,.REJECTED{background:#cf222e}.CANCELLED{background:#59636e}
.running{background:#9a6700}.legend span{margin-right:14px}.legend i{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
"""
    + VERDICT_STYLE
)
_COLOURS = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#59636e")


def render(record: Record) -> str:
    """The page of one dataset version's run."""
    name = record.dataset or "dataset"
    stage = str(record.state)
    verdict = stage if record.state in FINAL else "running"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>codetune run: {escape(name)}</title><style>{_STYLE}</style></head>",
        "<body><main>",
        f"<h1>{escape(name)}</h1>",
        f"<p><span class='verdict {escape(verdict)}' id='stage'>{escape(stage)}</span> "
        f"generation {escape(record.generation or '?')}"
        + (f", {escape(record.base_model)}" if record.base_model else "")
        + (f" ({escape(record.backend)} backend)" if record.backend else "")
        + "</p>",
        _summary(record),
        _outcome(record),
        evaluation_summary(record),
        _curves(record.curves),
        _tokens(record),
        _dropped(record),
        _timeline(record),
        "<p class='muted'>Written by codetune. Stages, counts, lines and metrics only: the "
        "dataset's contents are never shown.</p>",
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _card(value: str, label: str) -> str:
    return f"<div class='card'><b>{escape(value)}</b><span>{escape(label)}</span></div>"


def _number(document: Any, key: str) -> float | None:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cost(record: Record) -> dict[str, Any]:
    cost = (record.derived or {}).get("cost")
    return cost if isinstance(cost, dict) else {}


def _summary(record: Record) -> str:
    cost = _cost(record)
    cards = [_card(f"{record.examples:,}" if record.examples is not None else "?", "examples")]
    if len(record.history) > 1:
        spent = datetime.fromisoformat(record.history[-1].time) - datetime.fromisoformat(
            record.history[0].time
        )
        cards.append(_card(_duration(spent.total_seconds()), "from upload to " + str(record.state)))
    training = _number(cost, "training_tokens")
    if training is not None:
        cards.append(_card(f"{training:,.0f}", "training tokens (estimated)"))
    price = _number(cost, "estimated_cost_usd")
    if price is not None:
        cards.append(_card(f"${price:,.2f}", "estimated cost"))
    billed = _billed(record)
    if billed is not None:
        cards.append(_card(f"{billed[0]:,.0f}", "training tokens Google counted"))
        if billed[1] is not None:
            cards.append(_card(f"${billed[1]:,.2f}", "cost at Google's count"))
    stats = record.data_stats
    if stats is not None and stats.dropped_examples:
        cards.append(_card(f"{stats.dropped_examples:,}", "examples dropped by Google"))
    return "<div class='grid' id='summary'>" + "".join(cards) + "</div>"


def _billed(record: Record) -> tuple[float, float | None] | None:
    """Google's billable tokens times the epochs (training tokens), and their cost at the
    price the estimate used."""
    stats, cost = record.data_stats, _cost(record)
    epochs = _number(cost, "epochs")
    if stats is None or stats.billable_tokens is None or epochs is None:
        return None
    tokens = stats.billable_tokens * epochs
    price = _number(cost, "price_per_million_training_tokens")
    return tokens, (tokens * price / 1e6 if price is not None else None)


def _link(url: str | None, text: str) -> str:
    """A link to the console only; anything else the record holds is shown as text."""
    if not url or not url.startswith(CONSOLE):
        return escape(text)
    return f"<a href='{escape(url)}'>{escape(text)}</a>"


def _outcome(record: Record) -> str:
    rows = []
    if record.job:
        rows.append(("tuning job", _link(job_console(record.job.name), record.job.name)))
        rows.append(("job state", escape(record.job.state or "unknown")))
    if record.tuned_model:
        rows.append(("tuned model", escape(record.tuned_model.model)))
        rows.append(("endpoint", escape(record.tuned_model.endpoint or "none named")))
    elif record.state in FINAL:
        rows.append(("no tuned model", escape(why_no_model(record) or "no reason recorded")))
    if record.progress is not None and record.state not in FINAL:
        rows.append(("progress", escape(record.progress.describe())))
    if record.cancel is not None:
        rows.append(("cancel", escape(f"asked by {record.cancel.by} at {record.cancel.time}")))
    if not rows:
        return ""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<h2>Outcome</h2><table id='outcome'>{body}</table>"


def _curves(curves: Curves | None) -> str:
    if curves is None:
        return "<h2>Curves</h2><p id='curves' class='muted'>No metrics were read for this run.</p>"
    out = ["<h2>Curves</h2><div id='curves'>"]
    if curves.note:
        out.append(f"<p class='warning' id='curves-note'>{escape(curves.note)}</p>")
    loss = [s for s in (curves.named(TRAINING_LOSS), curves.named(VALIDATION_LOSS)) if s]
    if loss:
        out.append(_chart("loss", "training and validation loss by step", loss))
    for index, other in enumerate(s for s in curves.series if s not in loss):
        out.append(_chart(f"series-{index}", other.name, [other]))
    where = curves.experiment or "the job"
    out.append(
        f"<p class='muted'>Read {escape(curves.read)} from {_link(curves.console, where)}"
        + (f"; not answered: {escape(', '.join(curves.missing))}" if curves.missing else "")
        + ".</p></div>"
    )
    return "\n".join(out)


def _chart(key: str, title: str, lines: list[Series]) -> str:
    """Line charts of series sharing one step axis, as inline SVG."""
    points = [p for s in lines for p in s.points]
    if not points:
        return f"<h3>{escape(title)}</h3><p class='muted'>no points</p>"
    width, height, left, right, top, bottom = 960, 240, 64, 16, 14, 30
    first, last = min(p.step for p in points), max(p.step for p in points)
    low, high = min(p.value for p in points), max(p.value for p in points)
    if high == low:
        low, high = low - 0.5, high + 0.5
    span = max(1, last - first)

    def x(step: int) -> float:
        return left + (step - first) / span * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    drawn, legend = [], []
    for index, line in enumerate(lines):
        colour = _COLOURS[index % len(_COLOURS)]
        path = " ".join(f"{x(p.step):.1f},{y(p.value):.1f}" for p in line.points)
        ends = f"{line.points[0].value:.4g} at step {line.points[0].step:,} to " + (
            f"{line.points[-1].value:.4g} at step {line.points[-1].step:,}"
        )
        drawn.append(
            f"<polyline class='curve' data-series='{escape(line.name)}' fill='none' "
            f"stroke='{colour}' stroke-width='2' points='{path}'>"
            f"<title>{escape(line.name)}: {escape(ends)}</title></polyline>"
        )
        cut = f", {line.read:,} read" if line.read > len(line.points) else ""
        legend.append(
            f"<span><i style='background:{colour}'></i>{escape(line.name)}: "
            f"{escape(ends)} ({len(line.points):,} points{cut})</span>"
        )
    axes = (
        f"<line x1='{left}' x2='{left}' y1='{top}' y2='{height - bottom}' stroke='#d0d7de'/>"
        f"<line x1='{left}' x2='{width - right}' y1='{height - bottom}' y2='{height - bottom}' "
        "stroke='#d0d7de'/>"
        f"<text x='{left - 6}' y='{top + 8}' text-anchor='end'>{high:.4g}</text>"
        f"<text x='{left - 6}' y='{height - bottom}' text-anchor='end'>{low:.4g}</text>"
        f"<text x='{left}' y='{height - 10}'>step {first:,}</text>"
        f"<text x='{width - right}' y='{height - 10}' text-anchor='end'>step {last:,}</text>"
    )
    return (
        f"<h3>{escape(title)}</h3><p class='legend'>{''.join(legend)}</p>"
        f"<svg id='chart-{escape(key)}' role='img' aria-label='{escape(title)}' "
        f"viewBox='0 0 {width} {height}' width='100%'>{axes}{''.join(drawn)}</svg>"
    )


def _tokens(record: Record) -> str:
    stats, cost = record.data_stats, _cost(record)
    rows = []
    if record.tokens is not None:
        rows.append(("an epoch, as codetune counted", f"{record.tokens.per_epoch:,}"))
        rows.append(("counted by", record.tokens.method))
    if stats is not None and stats.billable_tokens is not None:
        ratio = stats.billed_to_estimate
        rows.append(
            (
                "an epoch, as Google counted (billable)",
                f"{stats.billable_tokens:,}" + (f" ({ratio:g}x codetune's count)" if ratio else ""),
            )
        )
    epochs = _number(cost, "epochs")
    if epochs is not None:
        rows.append(("epochs", f"{epochs:g}"))
    if stats is not None and stats.tuning_steps is not None:
        rows.append(("tuning steps", f"{stats.tuning_steps:,}"))
    basis = cost.get("price_basis")
    if isinstance(basis, str):
        rows.append(("price", basis))
    if not rows:
        return ""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<h2>Tokens: estimated and billed</h2><table id='tokens'>{body}</table>"


def _dropped(record: Record) -> str:
    stats = record.data_stats
    if stats is None or not stats.dropped_examples:
        return ""
    rows = "".join(
        f"<tr><td>{d.line:,}</td><td>{escape(d.reason or 'no reason given')}</td></tr>"
        for d in stats.dropped
    )
    more = stats.dropped_examples - len(stats.dropped)
    return (
        f"<h2>Examples Google dropped or truncated</h2><table id='dropped'>"
        f"<tr><th>dataset line</th><th>Google's reason</th></tr>{rows}</table>"
        + (f"<p class='muted'>and {more:,} more</p>" if more > 0 else "")
    )


def _timeline(record: Record) -> str:
    if not record.history:
        return ""
    lines = timeline(record.history)[1:]  # the heading is the page's
    rows = "".join(f"<tr><td>{escape(line.strip())}</td></tr>" for line in lines)
    return f"<h2>Timeline</h2><table id='timeline'>{rows}</table>"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
