"""Near-duplicates (opt-in): rule `near-duplicate` within a training dataset, `near-overlap`
between it and its evaluation dataset. Warnings with both lines and an estimated similarity."""

from __future__ import annotations

import io

from codetune.dataset.near import THRESHOLD, NearDuplicates, NearIndex, signature
from codetune.dataset.overlap import TrainingOverlap, index_evaluation
from tests.support import LEGACY_RULES, dataset, generation, generation_dataset, validate

TASK = (
    "Write the code in Python: read a CSV file of orders, group the rows by customer, sum the "
    "amount of each group, sort the customers by their total and print the ten largest with "
    "their names and totals, skipping rows whose amount is not a number. Keep the output "
    "stable: ties are broken by the customer's name, and totals print with two decimals."
)
ANSWER = "import csv\nfrom collections import defaultdict\n\ndef top(path):\n    totals = defaultdict(float)\n"


def near_copy(text: str) -> str:
    """One word changed near the end: about 0.9 Jaccard similarity of the word 3-grams."""
    return text.replace("not a number", "not a float")


def warnings(report: dict, rule: str) -> list[dict]:  # type: ignore[type-arg]
    return [w for w in report["warnings"] if w["rule"] == rule]


def test_a_near_copy_is_a_warning_naming_the_first_line_and_the_similarity() -> None:
    lines = generation_dataset(30)
    lines[3] = generation(3, input_text=TASK, output_text=ANSWER)
    lines[20] = generation(20, input_text=near_copy(TASK), output_text=ANSWER)
    report = validate(dataset(lines), checks=[NearDuplicates()])
    [warning] = warnings(report, "near-duplicate")
    assert warning["line"] == 21
    assert "similar to line 4" in warning["message"] and "%" in warning["message"]
    stats = report["stats"]["near_duplicates"]
    assert stats["examples_nearly_repeating_an_earlier_one"] == 1
    [[first, second, similarity]] = stats["first_pairs"]
    assert (first, second) == (4, 21) and THRESHOLD <= similarity < 1


def test_distinct_examples_and_exact_repeats_are_not_near_duplicates() -> None:
    lines = generation_dataset(30)
    lines[5] = lines[2]  # exact: the `duplicate` rule's, not this one's
    report = validate(dataset(lines), checks=[NearDuplicates()])
    assert warnings(report, "near-duplicate") == []
    assert [w["line"] for w in warnings(report, "duplicate")] == [6]


def test_different_code_under_the_same_long_prompt_is_not_a_near_copy() -> None:
    lines = generation_dataset(30)
    lines[0] = generation(0, input_text="Fix it", output_text=ANSWER * 3)
    lines[1] = generation(1, input_text="Fix it", output_text=TASK * 3)
    assert warnings(validate(dataset(lines), checks=[NearDuplicates()]), "near-duplicate") == []


def test_a_training_example_near_an_evaluation_example_is_a_warning() -> None:
    evaluation = [generation(700 + i) for i in range(11)] + [
        generation(711, input_text=TASK, output_text=ANSWER)
    ]
    _, index = index_evaluation(
        io.BytesIO(dataset(evaluation)), "eval.jsonl", rules=LEGACY_RULES, near=True
    )
    training = generation_dataset(30)
    training[8] = generation(8, input_text=near_copy(TASK), output_text=ANSWER)
    training[9] = evaluation[0]  # exact: the `overlap` error, not a warning too
    report = validate(dataset(training), checks=[TrainingOverlap(index)])
    [warning] = warnings(report, "near-overlap")
    assert (
        warning["line"] == 9
        and "line 12 of the evaluation dataset eval.jsonl" in (warning["message"])
    )
    assert [e["line"] for e in report["errors"] if e["rule"] == "overlap"] == [10]
    assert report["stats"]["overlap"]["training_examples_nearly_in_evaluation"] == 1


def test_the_index_is_bounded() -> None:
    index = NearIndex(limit=3)
    added = [index.add(line, signature((f"text number {line} of many",))) for line in range(5)]
    assert added == [True, True, True, False, False] and len(index.signatures) == 3
