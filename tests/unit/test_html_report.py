"""The report as a page: self-contained (no script, nothing fetched), every finding by rule,
token charts against the model's limits, and never the dataset's contents."""

from __future__ import annotations

import io
import re

from codetune.dataset import validate_stream
from codetune.dataset.html import render
from codetune.tuning.backends import rules_for
from tests.support import LEGACY_RULES, dataset, generation, generation_dataset

PRIVATE = "proprietary_billing_engine_v7"


def page(lines: list[bytes], rules=LEGACY_RULES, name: str = "gs://b/incoming/data.jsonl") -> str:  # type: ignore[no-untyped-def]
    report = validate_stream(io.BytesIO(dataset(lines)), name, rules=rules)
    return render(report, {"training_tokens": 3000, "epochs": 3.0, "estimated_cost_usd": 1.25})


def faulty() -> list[bytes]:
    lines = generation_dataset(40)
    lines[3] = generation(3, output_text=f"def {PRIVATE}(): pass\nkey = 'AKIA{'Z' * 16}'")
    lines[7] = b'{"input_text": "x"'
    lines[9] = lines[8]
    lines[12] = generation(12, input_text=f"Sum the numbers in {PRIVATE}.")
    return lines


def test_the_page_is_self_contained() -> None:
    html = page(faulty())
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")


def test_every_rule_with_findings_has_its_section_with_lines_and_fields() -> None:
    html = page(faulty())
    assert "INVALID" in html
    for rule in ("secret", "json", "duplicate", "S-7", "S-2"):
        assert f"data-rule='{rule}'" in html, rule
    assert "<td>4</td><td>output_text</td><td>AWS access key on line 2 of the text" in html
    assert "<td>8</td><td></td><td>not valid JSON" in html


def test_token_charts_show_the_examples_and_the_models_limit() -> None:
    gemini = rules_for("gemini-2.5-flash")
    assert gemini is not None
    lines = generation_dataset(40)
    lines[0] = generation(0, output_text="y" * 9000)
    html = page(lines, gemini)
    for chart in ("chart-prompt", "chart-response"):
        svg = re.search(rf"<svg id='{chart}'.*?</svg>", html, re.S)
        assert svg is not None, chart
        assert len(re.findall(r"<rect class='bar'", svg.group(0))) >= 2
        assert "limit 131,072" in svg.group(0)
    assert sum(int(n) for n in re.findall(r"tokens: (\d+) examples", html)) == 80  # 40 + 40
    legacy = page(generation_dataset(40))
    assert "limit 6,144" in legacy and "limit 1,024" in legacy


def test_the_cost_estimate_is_on_the_page() -> None:
    html = page(generation_dataset(40))
    assert "$1.25" in html and "3,000" in html and "training tokens (3 epochs)" in html


def test_the_datasets_contents_never_appear_and_names_are_escaped() -> None:
    html = page(faulty(), name="gs://b/incoming/<img src=x onerror=alert(1)>.jsonl")
    assert PRIVATE not in html and "AKIA" not in html
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_a_pass_stopped_at_the_time_limit_says_so_on_the_page() -> None:
    from tests.unit.test_time_limit import Trickle, ticks

    report = validate_stream(
        Trickle(generation_dataset(30)),
        "gs://b/incoming/big.jsonl",
        rules=LEGACY_RULES,
        time_limit=10.5,
        clock=ticks(),
    )
    html = render(report)
    assert "INVALID" in html and "time-limit" in html
    assert "10 lines checked: stopped at the time limit" in html
    assert "stopped at the time limit" not in page(generation_dataset(30))


def test_sizes_are_shown_in_the_unit_that_fits() -> None:
    from codetune.dataset.html import size

    assert [size(n) for n in (0, 999, 27_000, 61_200_000, 1_073_741_824)] == [
        "0 bytes",
        "999 bytes",
        "27.0 KB",
        "61.2 MB",
        "1.1 GB",
    ]


def test_a_rules_summary_has_the_numbers_of_the_model_it_was_checked_for() -> None:
    """Not code-bison's 500 above a finding that says 100 for gemini-3.5-flash."""
    few = generation_dataset(12)
    gemini = page(few, rules=rules_for("gemini-3.5-flash"))
    assert "100 or more recommended for gemini-3.5-flash" in gemini
    assert "500 or more" not in gemini
    legacy = page(few)
    assert "500 or more recommended for code-bison@002" in legacy
