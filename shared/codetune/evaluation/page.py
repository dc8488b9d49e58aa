"""A version's evaluation as one self-contained HTML page (`*.eval.html`): the verdict per
metric, what it cost, and the examples, worst regressions first, each with its prompt, its
reference, both answers and their diffs against the reference.

Like the other pages (dataset/html.py, run_html.py): no script, no external fetch, styles
inline. Unlike them it shows dataset text and model answers, so everything is escaped and a
Content-Security-Policy forbids scripts outright: a `<script>` in an answer is text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from html import escape

from codetune.dataset.html import _STYLE as _REPORT_STYLE
from codetune.evaluation.metrics import BY_NAME, METRICS, Direction, Metric
from codetune.evaluation.plan import Answer, Evaluation, EvaluationState, ExampleResult, Usage
from codetune.evaluation.verdict import EQUAL_WITHIN, MetricVerdict, Verdict
from codetune.state.records import FINAL, Record

MAX_EXAMPLES = 200  # shown in full; the rest are counted
MAX_TEXT_CHARS = 4_000  # of each prompt, reference and answer shown (and diffed)
MAX_INLINE_CHARS = 400  # a changed line longer than this is marked whole, not by character
ALIKE = 0.6  # two changed lines at least this alike (difflib's ratio) are marked by character
# Worst regressions first: by each metric's change from base to tuned, in this order.
ORDER = ("chrf", "exact_match", "code_parses", "length_ratio")
_CSP = "default-src 'none'; style-src 'unsafe-inline'"
# The verdict's table and flag, here and on the run page.
VERDICT_STYLE = """
.alert{background:#ffebe9;border:1px solid #ff8182;border-radius:8px;padding:8px 12px;color:#82071e;font-weight:600}
tr.flagged td{background:#fff5f5}.flag{color:#cf222e;font-weight:600}.good{color:#1a7f37}
"""
_STYLE = (
    _REPORT_STYLE
    + VERDICT_STYLE
    + """
.SUCCEEDED{background:#1a7f37}.FAILED{background:#cf222e}.CANCELLED{background:#59636e}.running{background:#9a6700}
section.example{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px 12px;margin:12px 0}
section.example h3{margin:4px 0 8px}h4{font-size:13px;margin:10px 0 4px;color:#59636e}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px}.pair>div{min-width:0}
pre{margin:0;padding:6px 8px;background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere;max-height:420px;overflow:auto}
.diff span{display:block}.diff .add{background:#dafbe1}.diff .del{background:#ffebe9}
.diff ins{background:#aceebb;text-decoration:none}.diff del{background:#ffcecb;text-decoration:none}
"""
)


def render(record: Record, results: Sequence[ExampleResult], limit: int = MAX_EXAMPLES) -> str:
    """The page of one dataset version's evaluation; at most `limit` examples in full."""
    evaluation = record.evaluation
    name = record.dataset or "dataset"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>codetune evaluation: {escape(name)}</title><style>{_STYLE}</style></head>",
        "<body><main>",
        f"<h1>{escape(name)}</h1>",
        _headline(record, evaluation),
        _flag(evaluation.verdict if evaluation else None),
        _setup(record, evaluation),
        _verdict_section(evaluation),
        _cost(evaluation),
        _examples(
            results, limit, evaluation.verdict.worse if evaluation and evaluation.verdict else []
        ),
        "<p class='muted'>Written by codetune. This page holds the evaluation dataset's prompts "
        "and references and both models' answers: share it as you would the dataset.</p>",
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


# --- the verdict ------------------------------------------------------------------------------
def finding(m: MetricVerdict) -> str:
    """'worse', 'better' (the whole interval on that side), 'unclear', or 'not applicable'."""
    if m.low is None or m.high is None:
        return "not applicable"
    if m.worse_beyond_interval:
        return "worse"
    better = m.low > 0 if BY_NAME[m.metric].direction is Direction.HIGHER else m.high < 0
    return "better" if better else "unclear"


_FINDING_TEXT = {
    "worse": "<span class='flag'>WORSE than the base model beyond the interval</span>",
    "better": "<span class='good'>better beyond the interval</span>",
    "unclear": "<span class='muted'>no clear difference: the interval reaches 0</span>",
    "not applicable": "<span class='muted'>not applicable to any example</span>",
}


def verdict_table(verdict: Verdict) -> str:
    """One row per metric: base, tuned, difference, interval, counts, and the finding; the run
    page shows the same table."""
    head = (
        "<tr><th>metric</th><th>examples</th><th>base</th><th>tuned</th><th>difference</th>"
        f"<th>{verdict.confidence:.0%} interval</th><th>better / equal / worse</th>"
        "<th>finding</th></tr>"
    )
    rows = []
    for m in verdict.metrics:
        metric = BY_NAME[m.metric]
        found = finding(m)
        flagged = " class='flagged'" if found == "worse" else ""
        cells = [f"{m.examples:,}" + (f" ({m.not_applicable:,} n/a)" if m.not_applicable else "")]
        if m.base is None or m.tuned is None or m.difference is None:
            cells += ["n/a"] * 5
        else:
            points = " pp" if metric.unit == "%" else ""
            cells += [
                metric.shown(m.base) + metric.unit,
                metric.shown(m.tuned) + metric.unit,
                metric.shown(m.difference, "+") + points,
                f"{metric.shown(m.low or 0.0, '+')} to {metric.shown(m.high or 0.0, '+')}{points}",
                f"{m.better:,} / {m.equal:,} / {m.worse:,}",
            ]
        body = "".join(f"<td>{escape(c)}</td>" for c in cells)
        rows.append(
            f"<tr{flagged} data-metric='{escape(m.metric)}' data-finding='{found}'>"
            f"<th>{escape(metric.title)}</th>{body}<td>{_FINDING_TEXT[found]}</td></tr>"
        )
    return f"<table id='verdict-table'>{head}{''.join(rows)}</table>"


_UNFINISHED = {  # the badge of an evaluation without a verdict: (colour, text)
    EvaluationState.PLANNED: ("running", "EVALUATING"),
    EvaluationState.REQUESTED: ("running", "EVALUATING"),
    EvaluationState.RUNNING: ("running", "EVALUATING"),
    EvaluationState.DONE: ("CANCELLED", "NO VERDICT"),
    EvaluationState.FAILED: ("FAILED", "EVALUATION FAILED"),
    EvaluationState.OFF: ("CANCELLED", "EVALUATION OFF"),
}


def _badge(evaluation: Evaluation | None) -> tuple[str, str]:
    if evaluation is None:
        return "CANCELLED", "NOT EVALUATED"
    if evaluation.verdict is None:
        return _UNFINISHED[evaluation.state]
    found = [(BY_NAME[m.metric].title, finding(m)) for m in evaluation.verdict.metrics]
    worse = [title for title, f in found if f == "worse"]
    better = [title for title, f in found if f == "better"]
    if worse:
        return "FAILED", "WORSE on " + ", ".join(worse)
    if better:
        return "SUCCEEDED", "BETTER on " + ", ".join(better)
    return "CANCELLED", "NO CLEAR DIFFERENCE"


def _headline(record: Record, evaluation: Evaluation | None) -> str:
    colour, text = _badge(evaluation)
    tuned = _tuned_model(record, evaluation)
    base = _base_model(record, evaluation)
    return (
        f"<p><span class='verdict {colour}' id='verdict'>{escape(text)}</span> "
        f"tuned model {escape(tuned)} against its base model {escape(base)}</p>"
    )


def _tuned_model(record: Record, evaluation: Evaluation | None) -> str:
    if evaluation is not None and evaluation.tuned_model:
        return evaluation.tuned_model
    return record.tuned_model.model if record.tuned_model else "unknown"


def _base_model(record: Record, evaluation: Evaluation | None) -> str:
    if evaluation is not None and evaluation.base_model:
        return evaluation.base_model
    return record.base_model or "unknown"


def _flag(verdict: Verdict | None) -> str:
    if verdict is None:
        return ""
    worse = [BY_NAME[m.metric].title for m in verdict.metrics if finding(m) == "worse"]
    if not worse:
        return ""
    return (
        f"<p class='alert' id='flag'>The tuned model is worse than its base model beyond the "
        f"{verdict.confidence:.0%} confidence interval on {escape(', '.join(worse))}.</p>"
    )


def _setup(record: Record, evaluation: Evaluation | None) -> str:
    rows = [("dataset", f"{record.dataset or '?'} (generation {record.generation or '?'})")]
    if evaluation is not None:
        plan = evaluation.plan
        rows.append(("evaluation dataset", f"{plan.dataset} (generation {plan.generation or '?'})"))
        rows.append(("examples", f"{plan.examples:,} sent of the {plan.available:,} it has"))
    rows.append(("tuned model", _tuned_model(record, evaluation)))
    if record.tuned_model and record.tuned_model.endpoint:
        rows.append(("endpoint", record.tuned_model.endpoint))
    rows.append(("base model", _base_model(record, evaluation)))
    if evaluation is not None:
        plan = evaluation.plan
        settings = (
            f"temperature {plan.temperature:g}, at most {plan.max_output_tokens:,} output tokens"
        )
        rows.append(("generation settings (both models)", settings))
        if plan.language:
            rows.append(("language", plan.language))
        rows.append(("state", f"{evaluation.state}, {evaluation.answered:,} examples answered"))
        if evaluation.finished:
            rows.append(("verdict recorded", evaluation.finished))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    note = ""
    if evaluation is not None and evaluation.note:
        note = f"<p class='warning' id='note'>{escape(evaluation.note)}</p>"
    return f"<table id='setup'>{body}</table>{note}"


def _verdict_section(evaluation: Evaluation | None) -> str:
    verdict = evaluation.verdict if evaluation else None
    if verdict is None:
        return "<h2>Verdict</h2><p id='verdict-none' class='muted'>No verdict yet.</p>"
    return (
        f"<h2>Verdict on {verdict.examples:,} examples</h2>"
        + verdict_table(verdict)
        + f"<p class='muted' id='method'>Computed by codetune's metrics (docs/evaluation.md), "
        f"not a model's opinion: each metric's mean over the examples it applies to, base and "
        f"tuned; the difference's paired bootstrap {verdict.confidence:.0%} interval "
        f"({verdict.resamples:,} resamples, seed {verdict.seed}); a metric is flagged when the "
        f"whole interval lies on the worse side. Exact match and code parses are shares of the "
        f"examples (differences in percentage points); length is |ln(answer / reference "
        f"characters)|, lower is better.</p>" + _definitions()
    )


def _definitions() -> str:
    rows = "".join(
        f"<tr><th>{escape(m.title)}</th><td>{escape(m.definition)}</td>"
        f"<td>{escape(m.direction)}</td><td>{escape(m.source)}</td></tr>"
        for m in METRICS
    )
    return (
        "<details><summary>What each metric measures</summary><table id='metrics'>"
        f"<tr><th>metric</th><th>definition</th><th>better</th><th>source</th></tr>{rows}"
        "</table></details>"
    )


def evaluation_summary(record: Record) -> str:
    """The run page's evaluation section: the verdict per metric and a link to the evaluation
    page, or how far the evaluation got; nothing when none was planned."""
    evaluation = record.evaluation
    if evaluation is None:
        return ""
    verdict, plan = evaluation.verdict, evaluation.plan
    out = ["<h2>Evaluation</h2><div id='evaluation'>"]
    if verdict is not None:
        out += [
            _flag(verdict),
            f"<p>On {verdict.examples:,} examples of {escape(plan.dataset)}, computed by "
            "codetune's metrics (docs/evaluation.md):</p>",
            verdict_table(verdict),
        ]
    elif evaluation.state is EvaluationState.FAILED:
        out.append(
            "<p class='warning' id='evaluation-state'>The evaluation failed; the tuned model stands.</p>"
        )
    elif evaluation.state is EvaluationState.OFF:
        out.append(
            "<p class='muted' id='evaluation-state'>Evaluation was turned off by the deployment.</p>"
        )
    elif evaluation.state is EvaluationState.PLANNED and record.state in FINAL:
        why = "" if record.tuned_model else ", with no tuned model to evaluate"
        out.append(
            f"<p class='muted' id='evaluation-state'>Not evaluated: the job ended "
            f"{escape(str(record.state))}{why}.</p>"
        )
    elif evaluation.state is EvaluationState.PLANNED:
        out.append(
            f"<p class='muted' id='evaluation-state'>Planned: {plan.examples:,} examples of "
            f"{escape(plan.dataset)}, once the job succeeds.</p>"
        )
    else:
        out.append(
            f"<p id='evaluation-state'>evaluating… {evaluation.answered:,} of "
            f"{plan.examples:,} examples answered on both models</p>"
        )
    if evaluation.note:
        out.append(f"<p class='warning' id='evaluation-note'>{escape(evaluation.note)}</p>")
    out += [_page_link(evaluation.page), "</div>"]
    return "\n".join(part for part in out if part)


def _page_link(page: str | None) -> str:
    """Where the evaluation page is: the state bucket, which the run page's readers may not
    read (it holds the dataset's text), so a command to fetch it, never a link; only a name
    of the form codetune writes is shown."""
    if not page or not _PAGE.fullmatch(page):
        return ""
    return (
        f"<p id='evaluation-page'>Every example, worst regressions first, is on the evaluation "
        f"page in the state bucket ({escape(page)}), for those who may read the evaluation "
        f"dataset: <code>codetune report DATASET_URI --eval-html FILE</code></p>"
    )


_PAGE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,221}/[^<>'\"&\s]{1,1000}/page\.eval\.html")


def _cost(evaluation: Evaluation | None) -> str:
    if evaluation is None:
        return ""
    plan, rows = evaluation.plan, []
    if plan.estimated_tokens is not None:
        rows.append(
            ("tokens, estimated before answering (both models)", f"{plan.estimated_tokens:,}")
        )
    if plan.estimated_cost_usd is not None:
        rows.append(
            ("cost, estimated before answering", f"at most ${plan.estimated_cost_usd:,.2f}")
        )
    for who, usage in (
        ("base model", evaluation.base_usage),
        ("tuned model", evaluation.tuned_usage),
    ):
        if usage is not None:
            rows.append((f"{who}, as Vertex AI counted", _usage(usage)))
    if not rows:
        return ""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<h2>Cost and usage</h2><table id='cost'>{body}</table>"


def _usage(usage: Usage) -> str:
    return (
        f"{usage.answers:,} answers, {usage.prompt_tokens:,} prompt tokens, "
        f"{usage.output_tokens:,} output tokens"
    )


# --- the examples -----------------------------------------------------------------------------
def gain(metric: Metric, base: float | None, tuned: float | None) -> float:
    """How much better the tuned answer is than the base answer on the metric's compared
    quantity (negative: worse); 0 where it does not apply or a stored score is unreadable."""
    if base is None or tuned is None:
        return 0.0
    if metric.direction is Direction.NEARER_ONE and not (base > 0 and tuned > 0):
        return 0.0
    found = metric.sign * (metric.compared(tuned) - metric.compared(base))
    return found if math.isfinite(found) else 0.0


def order(flagged: Sequence[str] = ()) -> tuple[str, ...]:
    """The metrics examples are ordered by: those the verdict flags, then ORDER's."""
    return (*[k for k in ORDER if k in flagged], *[k for k in ORDER if k not in flagged])


def regression(result: ExampleResult, by: Sequence[str] = ORDER) -> tuple[float, ...]:
    """The sort key of worst regressions first: each metric's gain in `by`, then the line."""
    scores = result.scores
    gains = tuple(gain(BY_NAME[k], scores.base.get(k), scores.tuned.get(k)) for k in by)
    return (*gains, float(result.line))


def worst_first(
    results: Sequence[ExampleResult], flagged: Sequence[str] = ()
) -> list[ExampleResult]:
    """The examples, the largest loss from base to tuned first (docs/evaluation.md)."""
    by = order(flagged)
    return sorted(results, key=lambda result: regression(result, by))


def _examples(results: Sequence[ExampleResult], limit: int, flagged: Sequence[str]) -> str:
    ordered = worst_first(results, flagged)
    shown, left = ordered[: max(0, limit)], len(ordered) - max(0, limit)
    titles = ", then ".join(
        BY_NAME[k].title + (" (flagged above)" if k in flagged else "") for k in order(flagged)
    )
    out = [
        "<h2>Examples, worst regressions first</h2><p class='muted' id='order'>Ordered by the "
        f"change from the base answer's score to the tuned answer's, the largest loss first: "
        f"on {escape(titles)} (0 where a metric does not apply), then by line. In each diff, "
        "lines marked + are in the answer and not in the reference, lines marked - in the "
        "reference and not in the answer.</p>"
    ]
    if not ordered:
        out.append("<p class='muted' id='no-examples'>No example results to show.</p>")
    out += [_example(rank, result) for rank, result in enumerate(shown, 1)]
    if left > 0:
        out.append(
            f"<p class='muted' id='left-out'>{left:,} more example{'s' if left != 1 else ''} "
            f"not shown in full: the {len(shown):,} worst of {len(ordered):,} are. The verdict "
            "above counts them all.</p>"
        )
    return "\n".join(out)


def _example(rank: int, result: ExampleResult) -> str:
    scores = result.scores
    chrf = BY_NAME["chrf"]
    base, tuned = scores.base.get("chrf"), scores.tuned.get("chrf")
    heading = f"#{rank} · line {result.line:,}"
    if base is not None and tuned is not None:
        heading += (
            f" · chrF {chrf.shown(base)} → {chrf.shown(tuned)} ({chrf.shown(tuned - base, '+')})"
        )
    return (
        f"<section class='example' id='example-{result.line}' data-line='{result.line}'>"
        f"<h3>{escape(heading)}</h3>{_scores(result)}"
        f"<h4>prompt</h4>{_pre(result.prompt)}<h4>reference</h4>{_pre(result.reference)}"
        "<div class='pair'>"
        f"<div>{_answer('base answer', result.base)}</div>"
        f"<div>{_answer('tuned answer', result.tuned)}</div></div>"
        f"<div class='pair'>{_against('base', result.base, result.reference)}"
        f"{_against('tuned', result.tuned, result.reference)}</div></section>"
    )


def _against(model: str, answer: Answer, reference: str) -> str:
    return f"<div><h4>{model} answer against the reference</h4>{diff(answer.text, reference)}</div>"


def _scores(result: ExampleResult) -> str:
    rows = []
    for metric in METRICS:
        base, tuned = result.scores.base.get(metric.name), result.scores.tuned.get(metric.name)
        if base is None or tuned is None:
            change = "<span class='muted'>not applicable</span>"
        else:
            found = gain(metric, base, tuned)
            change = (
                "<span class='flag'>worse</span>"
                if found < -EQUAL_WITHIN
                else "<span class='good'>better</span>"
                if found > EQUAL_WITHIN
                else "equal"
            )
        rows.append(
            f"<tr data-metric='{escape(metric.name)}'><th>{escape(_example_title(metric))}</th>"
            f"<td>{escape(_example_score(metric, base))}</td>"
            f"<td>{escape(_example_score(metric, tuned))}</td><td>{change}</td></tr>"
        )
    return (
        "<table class='scores'><tr><th>metric</th><th>base</th><th>tuned</th><th>tuned "
        f"against base</th></tr>{''.join(rows)}</table>"
    )


def _example_title(metric: Metric) -> str:
    return (
        "length (answer / reference)" if metric.direction is Direction.NEARER_ONE else metric.title
    )


def _example_score(metric: Metric, value: float | None) -> str:
    """One answer's score as people read it: yes/no for a 0-or-1 metric, the ratio for length."""
    if value is None:
        return "n/a"
    if metric.unit == "%" and value in (0.0, 1.0):
        return "yes" if value == 1.0 else "no"
    if metric.direction is Direction.NEARER_ONE:
        return f"{value:.2f}"
    return metric.shown(value) + metric.unit


def _answer(title: str, answer: Answer) -> str:
    said = f"{title}, {answer.output_tokens:,} output tokens" if answer.output_tokens else title
    if answer.finish_reason and answer.finish_reason != "STOP":
        said += f", finished: {answer.finish_reason}"
    return f"<h4>{escape(said)}</h4>{_pre(answer.text)}"


def _cut(text: str) -> tuple[str, int]:
    """The text as shown, and how many characters are left out."""
    return text[:MAX_TEXT_CHARS], max(0, len(text) - MAX_TEXT_CHARS)


def _more(left: int) -> str:
    return f"<p class='muted'>… {left:,} more characters not shown</p>" if left else ""


def _pre(text: str) -> str:
    shown, left = _cut(text)
    return f"<pre>{escape(shown)}</pre>{_more(left)}"


def diff(answer: str, reference: str) -> str:
    """The answer's lines against the reference's, changed characters marked within a changed
    line; of the parts shown only."""
    (said, cut_said), (wanted, cut_wanted) = _cut(answer), _cut(reference)
    theirs, ours = wanted.splitlines(), said.splitlines()
    lines: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, theirs, ours, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [f"<span>  {escape(line)}</span>" for line in theirs[i1:i2]]
            continue
        old, new = theirs[i1:i2], ours[j1:j2]
        pairs = min(len(old), len(new)) if tag == "replace" else 0
        marked = [_inline(a, b) for a, b in zip(old[:pairs], new[:pairs], strict=True)]
        lines += [f"<span class='del'>- {d}</span>" for d, _ in marked]
        lines += [f"<span class='del'>- {escape(line)}</span>" for line in old[pairs:]]
        lines += [f"<span class='add'>+ {a}</span>" for _, a in marked]
        lines += [f"<span class='add'>+ {escape(line)}</span>" for line in new[pairs:]]
    cut = (
        f"<p class='muted'>of the first {MAX_TEXT_CHARS:,} characters of each</p>"
        if cut_said or cut_wanted
        else ""
    )
    return f"<pre class='diff'>{''.join(lines)}</pre>{cut}"


def _inline(old: str, new: str) -> tuple[str, str]:
    """Two changed lines, escaped; when they are alike, their differing characters wrapped in
    <del> and <ins> (marks within lines that share little are noise)."""
    if len(old) > MAX_INLINE_CHARS or len(new) > MAX_INLINE_CHARS:
        return escape(old), escape(new)
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    if matcher.ratio() < ALIKE:
        return escape(old), escape(new)
    deleted, inserted = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a, b = escape(old[i1:i2]), escape(new[j1:j2])
        deleted.append(a if tag == "equal" or not a else f"<del>{a}</del>")
        inserted.append(b if tag == "equal" or not b else f"<ins>{b}</ins>")
    return "".join(deleted), "".join(inserted)
