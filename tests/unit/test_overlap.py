"""Train/evaluation overlap (rule `overlap`): an evaluation example that is also a training
example, exactly or once white space is normalised, is an error naming both lines."""

from __future__ import annotations

import io

import orjson

from codetune.dataset import DatasetFormat, DatasetRole
from codetune.dataset.overlap import MAX_INDEXED, EvaluationIndex, index_evaluation, normalised
from codetune.tuning.backends import rules_for
from tests.support import LEGACY_RULES, chat, dataset, generation, generation_dataset, validate

EVALUATION = "gs://bucket/data.eval.jsonl"


def evaluation_index(lines: list[bytes], rules=LEGACY_RULES) -> EvaluationIndex:  # type: ignore[no-untyped-def]
    report, index = index_evaluation(io.BytesIO(dataset(lines)), EVALUATION, rules=rules)
    assert report.valid, report.to_dict()["errors"]
    return index


def overlap_of(training: list[bytes], evaluation: list[bytes], rules=LEGACY_RULES) -> dict:  # type: ignore[no-untyped-def,type-arg]
    from codetune.dataset.overlap import TrainingOverlap

    index = evaluation_index(evaluation, rules)
    return validate(dataset(training), rules=rules, checks=[TrainingOverlap(index)])


def evaluation_set(start: int = 1000, count: int = 12) -> list[bytes]:
    return [generation(start + i) for i in range(count)]


def test_an_evaluation_example_in_training_is_an_error_naming_both_lines() -> None:
    evaluation = evaluation_set()
    training = generation_dataset(20)
    training[6] = evaluation[3]  # training line 7 is evaluation line 4
    report = overlap_of(training, evaluation)
    assert report["valid"] is False
    [error] = [e for e in report["errors"] if e["rule"] == "overlap"]
    assert error["line"] == 7
    assert "line 4 of the evaluation dataset gs://bucket/data.eval.jsonl" in error["message"]
    assert "white space" not in error["message"]
    assert report["stats"]["overlap"] == {
        "evaluation_dataset": EVALUATION,
        "evaluation_examples": 12,
        "training_examples_in_evaluation": 1,
        "of_which_only_after_normalising_white_space": 0,
        "evaluation_lines": [4],
    }


def test_overlap_holds_once_white_space_is_normalised() -> None:
    evaluation = evaluation_set()
    example = orjson.loads(evaluation[0])
    spaced = {
        "input_text": "  " + example["input_text"].replace(" ", " \t ") + "\n",
        "output_text": example["output_text"].replace("\n", "\r\n\n"),
    }
    training = generation_dataset(20)
    training[0] = orjson.dumps(spaced)
    report = overlap_of(training, evaluation)
    [error] = [e for e in report["errors"] if e["rule"] == "overlap"]
    assert error["line"] == 1 and "once white space is normalised" in error["message"]
    assert report["stats"]["overlap"]["of_which_only_after_normalising_white_space"] == 1


def test_the_same_prompt_with_another_answer_is_not_an_overlap() -> None:
    evaluation = evaluation_set()
    prompt = orjson.loads(evaluation[0])["input_text"]
    training = generation_dataset(20)
    training[0] = generation(0, input_text=prompt, output_text="return 0")
    report = overlap_of(training, evaluation)
    assert report["valid"] is True
    assert report["stats"]["overlap"]["training_examples_in_evaluation"] == 0


def test_every_training_copy_is_reported_and_counted() -> None:
    evaluation = evaluation_set()
    training = generation_dataset(20)
    training[2] = training[9] = evaluation[5]
    report = overlap_of(training, evaluation)
    assert [e["line"] for e in report["errors"] if e["rule"] == "overlap"] == [3, 10]
    assert report["stats"]["overlap"]["training_examples_in_evaluation"] == 2
    assert report["stats"]["overlap"]["evaluation_lines"] == [6]


def test_a_conversation_in_another_format_is_the_same_example() -> None:
    """Gemini evaluation data beside seed chat training data: the texts decide, not the format."""
    rules = rules_for("gemini-2.5-flash")
    assert rules is not None
    turns = ("Write a Python function that returns 5 squared.", "return 5 ** 2")
    gemini = {
        "contents": [
            {"role": "user", "parts": [{"text": turns[0]}]},
            {"role": "model", "parts": [{"text": turns[1]}]},
        ]
    }
    evaluation = [orjson.dumps(gemini)] + [
        orjson.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": f"Write Python for {i}"}]},
                    {"role": "model", "parts": [{"text": f"print({i})"}]},
                ]
            }
        )
        for i in range(11)
    ]
    seed_chat = chat(
        0,
        messages=[
            {"author": "user", "content": turns[0]},
            {"author": "assistant", "content": turns[1]},
        ],
    )
    training = [chat(i) for i in range(1, 15)] + [seed_chat]
    report = overlap_of(training, evaluation, rules)
    assert [e["line"] for e in report["errors"] if e["rule"] == "overlap"] == [15]


def test_a_context_makes_a_conversation_another_example() -> None:
    assert normalised((None, "a  b", "c")) == ("a b", "c")
    assert normalised(("ctx", "a b", "c")) != normalised((None, "a b", "c"))


def test_the_index_is_bounded_whatever_the_evaluation_file_holds() -> None:
    lines = [generation(i) for i in range(MAX_INDEXED + 50)]
    report, index = index_evaluation(io.BytesIO(dataset(lines)), EVALUATION, rules=LEGACY_RULES)
    assert report.valid is False  # far over S-5's 250
    assert len(index.lines) == MAX_INDEXED and index.examples == MAX_INDEXED + 50


def test_an_evaluation_dataset_is_validated_as_one() -> None:
    report, _ = index_evaluation(
        io.BytesIO(dataset(evaluation_set(count=3))), EVALUATION, rules=LEGACY_RULES
    )
    assert report.role is DatasetRole.EVALUATION
    assert [e.rule for e in report.errors.listed] == ["S-5"]
    assert report.format == DatasetFormat.SEED
