"""The run page in a real headless browser, as test_report_page.py holds the validation page:
it loads with no console message at all, and its curves, tokens and dropped lines are in the
rendered page.

    CODETUNE_WRITE_SCREENSHOT=1 pytest tests/integration/test_run_page.py   # refreshes docs/
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from codetune.run_html import render
from tests.integration.test_report_page import browse
from tests.unit.test_run_page import ended

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "run-example.png"


def test_the_run_page_loads_clean_with_its_curves(tmp_path: Path) -> None:
    page = tmp_path / "train.jsonl.run.html"
    page.write_text(render(ended()), encoding="utf-8")
    dom, console = browse(page, "--dump-dom")
    assert console == []
    assert 'id="stage">SUCCEEDED' in dom
    svg = re.search(r'<svg id="chart-loss".*?</svg>', dom, re.S)
    assert svg is not None and svg.group(0).count('class="curve"') == 2
    assert 'id="tokens"' in dom and 'id="dropped"' in dom and 'id="timeline"' in dom
    shot = tmp_path / "run.png"
    browse(page, f"--screenshot={shot}", "--window-size=1100,1500", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("CODETUNE_WRITE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)


@pytest.mark.skipif(not SCREENSHOT.exists(), reason="written with CODETUNE_WRITE_SCREENSHOT=1")
def test_the_docs_keep_a_screenshot_of_the_example_run() -> None:
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
