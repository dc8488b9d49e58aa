"""The evaluation page: the verdict per metric with the worse one flagged, the examples worst
regressions first and bounded, each answer's diff against the reference, every value escaped
and no script able to run; the run page's evaluation section; where the page is written."""

from __future__ import annotations

import logging
import re
from typing import IO

import msgspec
import pytest

from codetune.app.eval_page import write_eval_page
from codetune.evaluation.metrics import BY_NAME, score
from codetune.evaluation.page import (
    MAX_EXAMPLES,
    MAX_TEXT_CHARS,
    diff,
    finding,
    gain,
    render,
    worst_first,
)
from codetune.evaluation.plan import Answer, EvaluationState, ExampleResult
from codetune.evaluation.verdict import ExampleScores, verdict
from codetune.exceptions import StorageError
from codetune.logs import Logger
from codetune.run_html import render as run_page
from codetune.state import RecordStore, Stage
from codetune.state.store import MAX_OBJECT_NAME_BYTES, eval_page_name
from tests.unit.eval_example import BODY_ONLY, TERSE, evaluated, examples, hostile
from tests.unit.fakes import MemoryStorage
from tests.unit.test_run_page import HOSTILE, ended, tags

LOG = Logger("test")


@pytest.fixture(scope="module")
def results() -> list[ExampleResult]:
    return examples()


def lines(page: str) -> list[int]:
    """The examples' lines, in the page's order."""
    return [int(a["data-line"] or 0) for t, a in tags(page) if t == "section" and "data-line" in a]


def test_the_verdict_per_metric_and_the_worse_one_flagged(results: list[ExampleResult]) -> None:
    record = evaluated(results)
    page = render(record, results)
    assert record.evaluation is not None and record.evaluation.verdict is not None
    verdict = record.evaluation.verdict
    assert verdict.worse == ["code_parses"]  # the body-only answers do not parse
    assert "id='verdict'>WORSE on code parses</span>" in page
    flag = re.search(r"<p class='alert' id='flag'>(.*?)</p>", page)
    assert flag is not None and "code parses" in flag.group(1) and "95%" in flag.group(1)
    rows = {a["data-metric"]: a for t, a in tags(page) if t == "tr" and "data-finding" in a}
    assert {k: a["data-finding"] for k, a in rows.items()} == {
        "exact_match": "better",
        "chrf": "better",
        "code_parses": "worse",
        "length_ratio": "unclear",
    }
    assert rows["code_parses"]["class"] == "flagged" and rows["chrf"].get("class") is None
    for m in verdict.metrics:  # the page's numbers are the verdict's
        metric = BY_NAME[m.metric]
        assert m.base is not None and m.tuned is not None and m.difference is not None
        row = re.search(rf"data-metric='{m.metric}' data-finding=.*?</tr>", page)
        assert row is not None
        for shown in (metric.shown(m.base), metric.shown(m.tuned), metric.shown(m.difference, "+")):
            assert f"<td>{shown}" in row.group(0), (m.metric, shown)
        assert f"{m.better} / {m.equal} / {m.worse}" in row.group(0)
    assert "Computed by codetune's metrics (docs/evaluation.md), not a model's opinion" in page
    assert "2,000 resamples, seed 27" in page


def test_the_models_the_datasets_and_the_cost_are_named(results: list[ExampleResult]) -> None:
    record = evaluated(results)
    page = render(record, results)
    evaluation = record.evaluation
    assert evaluation is not None and evaluation.base_usage is not None
    for named in (
        "gs://drop/incoming/train.jsonl",
        "gs://drop/incoming/train.eval.jsonl (generation 18)",
        "projects/acme-ml/locations/us-central1/models/9@1",
        "projects/acme-ml/locations/us-central1/endpoints/9",
        "gemini-3.5-flash",
        "temperature 0, at most 1,024 output tokens",
    ):
        assert named in page, named
    assert f"at most ${evaluation.plan.estimated_cost_usd:,.2f}" in page
    assert f"{evaluation.base_usage.output_tokens:,} output tokens" in page


def test_the_examples_come_worst_regressions_first(results: list[ExampleResult]) -> None:
    page = render(evaluated(results), results)
    shown = lines(page)
    assert sorted(shown) == [r.line for r in results]  # each once
    # The flagged metric first: every example whose tuned answer stopped parsing ...
    lost = {r.line for r in results if r.scores.tuned["code_parses"] == 0.0}
    assert lost == {index + 1 for index in BODY_ONLY}
    assert set(shown[: len(lost)]) == lost
    # ... then the largest chrF losses, largest first.
    chrf = BY_NAME["chrf"]
    by_line = {r.line: r for r in results}
    after = [
        gain(chrf, by_line[n].scores.base["chrf"], by_line[n].scores.tuned["chrf"])
        for n in shown[len(lost) :]
    ]
    assert after == sorted(after) and after[0] < 0
    assert shown[len(lost) : len(lost) + len(TERSE)] == sorted(
        (index + 1 for index in TERSE),
        key=lambda n: by_line[n].scores.tuned["chrf"] - by_line[n].scores.base["chrf"],  # type: ignore[operator]
    )
    assert "on code parses (flagged above), then chrF" in page


def test_without_a_flag_chrf_orders_first(results: list[ExampleResult]) -> None:
    ordered = worst_first(results)
    drops = [
        r.line for r in results if (r.scores.tuned["chrf"] or 0) < (r.scores.base["chrf"] or 0)
    ]
    assert sorted(drops) == sorted(index + 1 for index in TERSE)
    assert {r.line for r in ordered[: len(drops)]} == set(drops)


def test_a_score_that_cannot_be_read_sorts_as_no_change(results: list[ExampleResult]) -> None:
    length = BY_NAME["length_ratio"]
    assert gain(length, 0.0, 1.0) == 0.0 and gain(length, -1.0, 2.0) == 0.0
    assert gain(BY_NAME["chrf"], float("nan"), 50.0) == 0.0
    assert gain(length, 2.0, 1.0) > 0 and gain(BY_NAME["chrf"], 60.0, 50.0) == pytest.approx(-10)
    first = results[0]
    broken = msgspec.structs.replace(
        first,
        scores=ExampleScores(first.line, {"length_ratio": 0.0}, {"length_ratio": float("nan")}),
    )
    page = render(evaluated(results), [broken, *results[1:]])
    assert len(lines(page)) == len(results)


def test_the_page_is_bounded(results: list[ExampleResult]) -> None:
    record = evaluated(results)
    page = render(record, results, limit=5)
    assert lines(page) == [r.line for r in worst_first(results, ["code_parses"])[:5]]
    assert f"{len(results) - 5:,} more examples not shown in full: the 5 worst of 36" in page
    assert "id='left-out'" not in render(record, results)
    many = [
        msgspec.structs.replace(r, line=r.line + 100 * copy) for copy in range(7) for r in results
    ]
    assert len(many) > MAX_EXAMPLES
    assert len(lines(render(record, many))) == MAX_EXAMPLES
    assert f"{len(many) - MAX_EXAMPLES:,} more examples" in render(record, many)


def test_a_long_text_is_cut_and_said(results: list[ExampleResult]) -> None:
    long = "x = 1\n" * 3_000  # 18,000 characters
    [first, *rest] = hostile(results, long)
    page = render(evaluated(results), [first, *rest])
    assert f"{len(long) - MAX_TEXT_CHARS:,} more characters not shown" in page
    assert f"of the first {MAX_TEXT_CHARS:,} characters of each" in page
    assert page.count("x = 1") < 2 * MAX_TEXT_CHARS // 6 + 10  # shown, and diffed, once each


def test_the_diff_marks_what_differs() -> None:
    found = diff("x = 1\ny = 2\nprint(y)", "x = 1\ny = 3\nreturn y")
    assert "<span>  x = 1</span>" in found  # the same line
    assert "<span class='del'>- y = <del>3</del></span>" in found  # alike lines: by character
    assert "<span class='add'>+ y = <ins>2</ins></span>" in found
    assert "<span class='del'>- return y</span>" in found  # unlike lines: whole
    assert "<span class='add'>+ print(y)</span>" in found
    assert "<del>" not in diff("same\n", "same\n") and "class='add'" not in diff("a", "a")


def test_every_value_is_escaped_and_no_script_can_run(results: list[ExampleResult]) -> None:
    answer = f"Here you go:\n{HOSTILE}\n<img src=x onerror=alert(2)>"
    hostile_results = hostile(results, answer)
    first = msgspec.structs.replace(
        hostile_results[0],
        prompt=HOSTILE,
        reference=f"{HOSTILE}\n",
        base=Answer(1, HOSTILE, finish_reason=HOSTILE),
    )
    record = evaluated(
        results,
        note=HOSTILE,
        base_model=HOSTILE,
        tuned_model=HOSTILE,
    )
    record = msgspec.structs.replace(record, dataset=f"gs://drop/incoming/{HOSTILE}.jsonl")
    page = render(record, [first, *hostile_results[1:]])
    found = tags(page)
    assert not [t for t, _ in found if t in ("script", "img", "link", "iframe", "object", "a")]
    assert not [a for _, a in found if "src" in a or any(k.startswith("on") for k in a)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_an_evaluation_without_a_verdict_says_how_far_it_got(results: list[ExampleResult]) -> None:
    running = evaluated(results, state=EvaluationState.RUNNING, verdict=None, worse=(), answered=12)
    page = render(running, [])
    assert "id='verdict'>EVALUATING" in page and "No verdict yet." in page
    assert "No example results to show." in page and "12 examples answered" in page
    failed = evaluated(results, state=EvaluationState.FAILED, verdict=None, note="quota: 429")
    assert "EVALUATION FAILED" in render(failed, []) and "quota: 429" in render(failed, [])


def test_the_example_scores_are_the_metrics_own(results: list[ExampleResult]) -> None:
    for result in results[:5]:
        assert result.scores.tuned == score(result.tuned.text, result.reference, "python")


def test_a_metric_whose_interval_reaches_zero_is_no_clear_difference(
    results: list[ExampleResult],
) -> None:
    """Half the examples with the answers swapped: the tuned model is as often better as worse."""
    mixed = [
        ExampleScores(r.line, r.scores.tuned, r.scores.base) if r.line % 2 else r.scores
        for r in results
        if r.line - 1 not in BODY_ONLY | set(TERSE)
    ]
    found = {m.metric: m for m in verdict(mixed).metrics}
    chrf = found["chrf"]
    assert chrf.low is not None and chrf.high is not None and chrf.low < 0 < chrf.high
    assert finding(chrf) == "unclear" and finding(found["code_parses"]) == "unclear"
    assert finding(verdict([r.scores for r in results]).metrics[1]) == "better"


# --- where the page goes ----------------------------------------------------------------------
def test_the_page_is_kept_in_the_state_bucket_beside_the_answers() -> None:
    # Not beside the dataset: an uploader reads what is beside any upload, and the page holds
    # the evaluation dataset's text.
    assert eval_page_name("incoming/train.jsonl", "17") == (
        "_codetune/evaluations/incoming/train.jsonl/17/page.eval.html"
    )
    store = RecordStore(MemoryStorage(), "drop-state", uploads="drop")
    assert store.eval_page_location("incoming/train.jsonl", "17") == (
        "drop-state",
        "_codetune/evaluations/incoming/train.jsonl/17/page.eval.html",
    )
    long = "incoming/" + "a" * (MAX_OBJECT_NAME_BYTES - 20)
    bucket, name = store.eval_page_location(long, "17")
    assert bucket == "drop-state" and name.startswith("_codetune/evaluations/long/")
    assert len(name.encode()) <= MAX_OBJECT_NAME_BYTES


# --- writing it -------------------------------------------------------------------------------
def test_the_page_is_written_and_its_uri_returned(
    results: list[ExampleResult], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    storage = MemoryStorage()
    store = RecordStore(storage, "drop-state", uploads="drop")
    record = evaluated(results)
    uri = write_eval_page(store, "incoming/train.jsonl", record, results, LOG)
    name = f"_codetune/evaluations/incoming/train.jsonl/{record.generation}/page.eval.html"
    assert uri == f"gs://drop-state/{name}"
    assert storage.list_names("drop", "") == []  # nothing beside the dataset
    written = storage.read_bytes("drop-state", name)
    assert written is not None and written.decode() == render(record, results)
    [logged] = [r for r in caplog.records if r.getMessage() == "evaluation page written"]
    assert logged.shown == len(results) and logged.worse == ["code_parses"]  # type: ignore[attr-defined]
    for r in caplog.records:  # no dataset text in the logs
        assert results[0].prompt not in r.getMessage() and results[0].prompt not in str(r.__dict__)


class FailingStorage(MemoryStorage):
    def writer(self, bucket: str, name: str, content_type: str | None = None) -> IO[bytes]:
        raise StorageError(f"gs://{bucket}/{name}: 503")


def test_a_page_that_cannot_be_written_is_logged_not_raised(
    results: list[ExampleResult], caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordStore(FailingStorage(), "drop-state", uploads="drop")
    assert write_eval_page(store, "incoming/train.jsonl", evaluated(results), results, LOG) is None
    [logged] = [r for r in caplog.records if r.getMessage() == "evaluation page not written"]
    assert logged.levelname == "ERROR" and "503" in logged.error  # type: ignore[attr-defined]


# --- the run page's evaluation section --------------------------------------------------------
def test_the_run_page_shows_the_verdict_and_links_the_evaluation_page(
    results: list[ExampleResult],
) -> None:
    stored = "gs://drop-state/_codetune/evaluations/incoming/train.jsonl/17/page.eval.html"
    record = evaluated(results, page=stored)
    page = run_page(record)
    assert "<h2>Evaluation</h2>" in page and "id='flag'" in page
    findings = [a["data-finding"] for t, a in tags(page) if t == "tr" and "data-finding" in a]
    assert findings == ["better", "better", "worse", "unclear"]
    assert stored in page  # named, with the command that fetches it
    links = [a["href"] for t, a in tags(page) if t == "a"]
    assert all((h or "").startswith("https://console.cloud.google.com/") for h in links)
    for text in (results[0].prompt, results[0].reference, results[0].tuned.text):
        assert text not in page  # no dataset text on the run page


@pytest.mark.parametrize(
    ("stage", "state", "said"),
    [
        (
            Stage.RUNNING,
            EvaluationState.PLANNED,
            "Planned: 36 examples of gs://drop/incoming/train.eval.jsonl",
        ),
        (Stage.EVALUATING, EvaluationState.RUNNING, "evaluating… 12 of 36 examples answered"),
        (Stage.SUCCEEDED, EvaluationState.FAILED, "The evaluation failed"),
        (Stage.SUCCEEDED, EvaluationState.OFF, "turned off by the deployment"),
    ],
)
def test_the_run_page_says_how_far_the_evaluation_got(
    results: list[ExampleResult], stage: Stage, state: EvaluationState, said: str
) -> None:
    record = evaluated(results, state=state, verdict=None, worse=(), answered=12, note="why: x")
    page = run_page(msgspec.structs.replace(record, state=stage))
    assert said in page and "why: x" in page and "verdict-table" not in page


def test_the_run_page_of_a_job_without_a_model_says_it_was_not_evaluated(
    results: list[ExampleResult],
) -> None:
    planned = evaluated(results, state=EvaluationState.PLANNED, verdict=None, worse=())
    failed = msgspec.structs.replace(planned, state=Stage.FAILED, tuned_model=None)
    assert "Not evaluated: the job ended FAILED" in run_page(failed)
    assert "Planned: 36 examples" not in run_page(failed)


def test_the_run_page_names_the_page_and_links_nothing(results: list[ExampleResult]) -> None:
    stored = "gs://drop-state/_codetune/evaluations/incoming/x.jsonl/17/page.eval.html"
    page = run_page(evaluated(results, page=stored))
    assert "evaluation-page" in page and stored in page and "--eval-html" in page
    assert not [a for t, a in tags(page) if t == "a" and "eval" in (a.get("href") or "")]
    for refused in (
        "gs://drop/incoming/x' onmouseover='alert(1)/page.eval.html",
        "javascript:alert(1)//page.eval.html",
        "https://evil.example/x/page.eval.html",
        "gs://b/x.run.html",
    ):
        page = run_page(evaluated(results, page=refused))
        assert "evaluation-page" not in page and "onmouseover" not in page


def test_a_run_without_an_evaluation_has_no_section() -> None:
    assert "id='evaluation'" not in run_page(ended())
