"""The validation report as one self-contained HTML page (`*.report.html`, `--html FILE`).

No script, no external fetch: styles inline, charts as inline SVG, so the page opens from a
bucket, an e-mail or a laptop the same way. Like the JSON report it never shows the dataset's
contents, only counts, lines, fields and rules.
"""

from __future__ import annotations

from html import escape
from typing import Any

from codetune.dataset.report import ValidationReport
from codetune.dataset.rules import LIMITS_8K, Rule, RuleSet, rule_summary

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px;word-break:break-all}h2{font-size:18px;margin:28px 0 8px}
h3{font-size:15px;margin:18px 0 6px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.valid{background:#1a7f37}.invalid{background:#cf222e}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:8px;margin-top:14px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:18px}.card span{color:#59636e;font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa}.error{color:#cf222e}.warning{color:#9a6700}.muted{color:#59636e}
section.rule{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px 12px;margin:10px 0}
svg{background:#fff;border:1px solid #d0d7de;border-radius:8px}
svg text{font:11px system-ui,sans-serif;fill:#59636e}
"""


def render(report: ValidationReport, cost: dict[str, Any] | None = None) -> str:
    """The page for a report; `cost` is a plan's estimate (codetune.tuning.budget), if any."""
    data = report.to_dict()
    stats = data["stats"]
    verdict = "valid" if report.valid else "invalid"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>codetune report: {escape(report.dataset)}</title><style>{_STYLE}</style></head>",
        "<body><main>",
        f"<h1>{escape(report.dataset)}</h1>",
        f"<p><span class='verdict {verdict}' id='verdict'>{verdict.upper()}</span> "
        f"{escape(str(report.kind or 'unknown kind'))} {escape(str(report.role))} dataset in the "
        f"{escape(report.format)} format, checked by the rules of "
        f"{escape(report.rules.base_model)} ({escape(report.rules.name)})</p>",
        _cards(data, stats, cost),
        _findings(data, report.rules),
        _tokens(report, stats),
        _details(stats),
        "<p class='muted'>Written by codetune. Counts, lines, fields and rules only: the "
        "dataset's contents are never shown.</p>",
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


def size(count: int) -> str:
    """Bytes as a person reads them: 27 KB, not 0.0 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


def _card(value: str, label: str) -> str:
    return f"<div class='card'><b>{escape(value)}</b><span>{escape(label)}</span></div>"


def _cards(data: dict[str, Any], stats: dict[str, Any], cost: dict[str, Any] | None) -> str:
    tokens = stats.get("tokens") or {}
    counts = stats["findings"]
    cards = [
        _card(f"{data['examples']:,}", "examples"),
        _card(f"{sum(counts['errors'].values()):,}", "errors"),
        _card(f"{sum(counts['warnings'].values()):,}", "warnings"),
        _card(
            size(stats["bytes"]),
            f"{stats['lines']:,} lines"
            + ("" if stats.get("complete", True) else " checked: stopped at the time limit"),
        ),
    ]
    if tokens:
        label = "tokens an epoch" + ("" if tokens.get("exact") else " (estimated)")
        cards.append(_card(f"{tokens['per_epoch']:,}", label))
    if cost and cost.get("training_tokens") is not None:
        cards.append(
            _card(f"{cost['training_tokens']:,}", f"training tokens ({cost['epochs']:g} epochs)")
        )
    if cost and cost.get("estimated_cost_usd") is not None:
        cards.append(_card(f"${cost['estimated_cost_usd']:,.2f}", "estimated cost"))
    return "<div class='grid' id='summary'>" + "".join(cards) + "</div>"


def _findings(data: dict[str, Any], rules: RuleSet) -> str:
    counts = data["stats"]["findings"]
    if not counts["errors"] and not counts["warnings"]:
        return "<h2>Findings</h2><p id='findings'>No errors and no warnings.</p>"
    out = ["<h2>Findings by rule</h2><div id='findings'>"]
    for severity, listed in (("error", data["errors"]), ("warning", data["warnings"])):
        for rule, count in sorted(counts[f"{severity}s"].items()):
            rows = [f for f in listed if f["rule"] == rule]
            known = rule in Rule._value2member_map_
            summary = rule_summary(Rule(rule), rules) if known else ""
            out.append(
                f"<section class='rule' data-rule='{escape(rule)}'><h3 class='{severity}'>"
                f"[{escape(rule)}] {count:,} {severity}{'s' if count != 1 else ''}</h3>"
                f"<p class='muted'>{escape(summary)}</p>"
            )
            if rows:
                out.append("<table><tr><th>line</th><th>field</th><th>message</th></tr>")
                for finding in rows:
                    out.append(
                        f"<tr><td>{finding['line'] or 'file'}</td>"
                        f"<td>{escape(finding['field'] or '')}</td>"
                        f"<td>{escape(finding['message'])}</td></tr>"
                    )
                out.append("</table>")
            if count > len(rows):
                out.append(f"<p class='muted'>and {count - len(rows):,} more</p>")
            out.append("</section>")
    out.append("</div>")
    return "\n".join(out)


def _limits(report: ValidationReport) -> tuple[int | None, int | None, str]:
    """The model's limits to draw on the prompt and response charts, and what they are."""
    rules = report.rules
    if rules.max_tokens_per_example is not None:
        limit = rules.max_tokens_per_example
        return limit, limit, f"{rules.base_model} takes {limit:,} tokens per example"
    return (
        LIMITS_8K["input"],
        LIMITS_8K["output"],
        f"{rules.base_model}: {LIMITS_8K['input']:,} input and {LIMITS_8K['output']:,} output tokens",
    )


def _tokens(report: ValidationReport, stats: dict[str, Any]) -> str:
    tokens = stats.get("tokens")
    if not tokens or not report.examples:
        return ""
    prompt_limit, response_limit, said = _limits(report)
    bounds = tokens["histogram_upper_bounds"]
    method = escape(tokens["method"])
    return (
        f"<h2>Tokens per example</h2><p class='muted'>{method}; {escape(said)} (dashed line).</p>"
        + _chart("prompt", tokens["prompt"], bounds, prompt_limit)
        + _chart("response", tokens["response"], bounds, response_limit)
    )


def _chart(name: str, summary: dict[str, Any], bounds: list[int], limit: int | None) -> str:
    """A histogram of examples by tokens, in power-of-two buckets, as inline SVG."""
    counts = summary["histogram"]
    used = [i for i, n in enumerate(counts) if n]
    if not used:
        return ""
    first, last = used[0], used[-1]
    if limit is not None:  # show the limit's bucket too
        at = next((i for i, bound in enumerate(bounds) if bound >= limit), len(bounds))
        first, last = min(first, at), max(last, at)
    shown = list(range(first, last + 1))
    width, height, left, bottom = 960, 200, 40, 34
    step = (width - left - 10) / len(shown)
    top = max(counts[i] for i in shown) or 1
    bars, labels = [], []
    for position, index in enumerate(shown):
        x = left + position * step
        bar = (height - bottom - 12) * counts[index] / top
        label = f"≤{bounds[index]:,}" if index < len(bounds) else f">{bounds[-1]:,}"
        bars.append(
            f"<rect class='bar' x='{x + 2:.1f}' y='{height - bottom - bar:.1f}' "
            f"width='{step - 4:.1f}' height='{bar:.1f}' fill='#0969da'>"
            f"<title>{label} tokens: {counts[index]:,} examples</title></rect>"
        )
        if counts[index]:
            bars.append(
                f"<text x='{x + step / 2:.1f}' y='{height - bottom - bar - 3:.1f}' "
                f"text-anchor='middle'>{counts[index]:,}</text>"
            )
        labels.append(
            f"<text x='{x + step / 2:.1f}' y='{height - bottom + 14}' text-anchor='middle'>"
            f"{label}</text>"
        )
    marker = ""
    if limit is not None:
        at = next((i for i, bound in enumerate(bounds) if bound >= limit), len(bounds))
        x = left + (at - first + 1) * step
        marker = (
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='8' y2='{height - bottom}' stroke='#cf222e' "
            f"stroke-dasharray='5 4'/><text x='{x - 4:.1f}' y='18' text-anchor='end' "
            f"fill='#cf222e'>limit {limit:,}</text>"
        )
    caption = (
        f"{name}: min {summary['min']:,}, mean {summary['mean']:,}, max {summary['max']:,}, "
        f"total {summary['total']:,}"
    )
    return (
        f"<h3>{escape(caption)}</h3><svg id='chart-{name}' role='img' "
        f"aria-label='{escape(caption)}' viewBox='0 0 {width} {height}' width='100%'>"
        + "".join(bars + labels)
        + marker
        + f"<text x='{left}' y='{height - 4}'>tokens per example</text></svg>"
    )


def _details(stats: dict[str, Any]) -> str:
    out = ["<h2>Layouts, duplicates, overlap, secrets</h2><table id='details'>"]
    layouts = stats.get("prompt_layouts") or []
    shown = "; ".join(
        f"{' then '.join(layout['labels']) or 'no labels'}: {layout['examples']:,} "
        f"(first on line {layout['first_line']})"
        for layout in layouts[:5]
    )
    out.append(f"<tr><th>prompt layouts (S-8)</th><td>{escape(shown or 'none')}</td></tr>")
    out.append(
        f"<tr><th>examples without an instruction (S-7)</th>"
        f"<td>{stats.get('examples_without_instruction', 0):,}</td></tr>"
    )
    out.append(f"<tr><th>exact duplicates</th><td>{stats.get('duplicate_examples', 0):,}</td></tr>")
    near = stats.get("near_duplicates")
    if near:
        pairs = ", ".join(f"{a} and {b} ({s:.0%})" for a, b, s in near["first_pairs"])
        out.append(
            f"<tr><th>near-duplicates</th><td>{near['examples_nearly_repeating_an_earlier_one']:,}"
            f"{': lines ' + escape(pairs) if pairs else ''}</td></tr>"
        )
    overlap = stats.get("overlap")
    if overlap:
        out.append(
            f"<tr><th>overlap with {escape(overlap['evaluation_dataset'])}</th>"
            f"<td>{overlap['training_examples_in_evaluation']:,} training examples are evaluation "
            f"examples (evaluation lines {escape(', '.join(map(str, overlap['evaluation_lines'])) or '-')})"
            "</td></tr>"
        )
    secrets = stats.get("secrets")
    if secrets:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in secrets["by_kind"].items())
        out.append(
            f"<tr><th>secrets ({escape(secrets['severity'])}s)</th>"
            f"<td>{secrets['examples_with_secrets']:,} examples{': ' + escape(kinds) if kinds else ''}"
            "</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)
