"""The report page in a real headless browser (Chromium from the distribution's packages,
which tests/run.sh installs): it loads with no console message at all (no error, no failed
fetch), and its findings and charts are in the rendered page.

    CODETUNE_WRITE_SCREENSHOT=1 pytest tests/integration/test_report_page.py   # refreshes docs/
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import dataset, generation, generation_dataset

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "report-example.png"
_INSTALLED = shutil.which("codetune")
CODETUNE = [_INSTALLED] if _INSTALLED else [sys.executable, "-m", "codetune.cli"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is missing: tests/run.sh installs it (apt-get install chromium)"
    return found


def browse(page: Path, *flags: str) -> tuple[str, list[str]]:
    """The DOM Chromium rendered, and every console message the page caused."""
    result = subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            *flags,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def example_dataset() -> bytes:
    """A dataset with the faults a report is for: a credential, a broken line, a repeat,
    prompts without an instruction, one example far longer than the rest."""
    lines = generation_dataset(160)
    lines[11] = generation(11, output_text='import boto3\nkey = "AKIA' + "Q7" * 8 + '"\n')
    lines[40] = b'{"input_text": "Write Python: parse a date", "output_text": '
    lines[57] = lines[56]
    for index in (90, 91, 120):
        lines[index] = generation(index, input_text=f"Sum the numbers up to {index}.")
    lines[130] = generation(130, output_text="x = 1\n" * 4000)
    return dataset(lines)


def test_the_console_check_catches_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><p>x</p><script>undefinedFunction()</script>")
    _, console = browse(broken, "--dump-dom")
    assert any("undefinedFunction" in line for line in console)


def test_the_report_page_loads_clean_with_its_findings_and_charts(tmp_path: Path) -> None:
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "train.jsonl").write_bytes(example_dataset())
    html = tmp_path / "train.report.html"
    validated = subprocess.run(
        [*CODETUNE, "validate", "incoming/train.jsonl", "--html", str(html)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")},
    )
    assert validated.returncode == 1, validated.stderr
    dom, console = browse(html, "--dump-dom")
    assert console == []
    assert 'id="verdict">INVALID' in dom
    for rule in ("secret", "json", "duplicate", "S-7"):
        assert f'data-rule="{rule}"' in dom, rule
    assert "AWS access key on line 2 of the text" in dom
    for chart in ("chart-prompt", "chart-response"):
        svg = re.search(rf'<svg id="{chart}".*?</svg>', dom, re.S)
        assert svg is not None and svg.group(0).count('class="bar"') >= 2, chart
    shot = tmp_path / "report.png"
    browse(html, f"--screenshot={shot}", "--window-size=1100,1700", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("CODETUNE_WRITE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)


@pytest.mark.skipif(not SCREENSHOT.exists(), reason="written with CODETUNE_WRITE_SCREENSHOT=1")
def test_the_docs_keep_a_screenshot_of_the_example_report() -> None:
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
