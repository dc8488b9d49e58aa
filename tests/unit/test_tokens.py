"""Token counts in the report: exact with a SentencePiece model (one the test trains here), the
estimate (characters / 4) labelled as one otherwise; sums, extremes and a histogram."""

from __future__ import annotations

import io
import random

import pytest
import sentencepiece
from hypothesis import given
from hypothesis import strategies as st

from codetune.dataset.tokens import HISTOGRAM_BOUNDS, Estimate, SentencePiece
from tests.support import chat, dataset, generation, generation_dataset, validate


@pytest.fixture(scope="module")
def model() -> bytes:
    rng = random.Random(7)
    words = ["def", "return", "self", "value", "list", "import", "print", "for", "in", "range"]
    corpus = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(400)]
    written = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=written, vocab_size=30, minloglevel=2
    )
    return written.getvalue()


def test_without_a_tokenizer_tokens_are_estimated_and_say_so() -> None:
    lines = generation_dataset(12)
    lines[0] = generation(0, input_text="x" * 41, output_text="y" * 8)
    tokens = validate(dataset(lines))["stats"]["tokens"]
    assert tokens["method"] == "estimate: characters / 4" and tokens["exact"] is False
    assert tokens["prompt"]["max"] >= 11 and tokens["response"]["min"] <= 2
    assert tokens["per_epoch"] == tokens["prompt"]["total"] + tokens["response"]["total"]
    assert sum(tokens["prompt"]["histogram"]) == 12
    assert tokens["histogram_upper_bounds"] == list(HISTOGRAM_BOUNDS)


def test_a_sentencepiece_model_gives_exact_counts(model: bytes) -> None:
    counter = SentencePiece(model)
    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    lines = [chat(i) for i in range(12)]
    tokens = validate(dataset(lines), checks=(), tokenizer=counter)["stats"]["tokens"]
    assert tokens["exact"] is True and tokens["method"] == "sentencepiece"
    expected_prompt = [
        len(processor.encode(f"Write a Python function that returns {i} squared."))
        for i in range(12)
    ]
    assert tokens["prompt"]["total"] == sum(expected_prompt)
    assert tokens["prompt"]["max"] == max(expected_prompt)
    assert tokens["per_epoch"] == tokens["prompt"]["total"] + tokens["response"]["total"]


def test_the_histogram_puts_each_example_in_its_power_of_two() -> None:
    from codetune.dataset.tokens import _Sum

    counts = _Sum()
    for tokens in (0, 1, 2, 3, 4, 5, 131_072, 131_073):
        counts.add(tokens)
    assert counts.histogram[:4] == [2, 1, 2, 1]  # <=1: 0 and 1; <=2: 2; <=4: 3, 4; <=8: 5
    assert counts.histogram[17] == 1 and counts.histogram[18] == 1  # <= 2^17, and more


def test_the_estimate_rounds_up() -> None:
    assert [Estimate().count("x" * n) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]


@given(st.lists(st.integers(min_value=0, max_value=300_000), max_size=40), st.integers(1, 7))
def test_adding_a_block_at_a_time_equals_adding_one_at_a_time(
    values: list[int], block: int
) -> None:
    from codetune.dataset.tokens import _Sum

    one, many = _Sum(), _Sum()
    for value in values:
        one.add(value)
    for start in range(0, len(values), block):
        many.extend(values[start : start + block])
    many.extend([])
    assert many.to_dict() == one.to_dict() and many.count == one.count


@pytest.mark.parametrize("fold_every", [1, 3, 4096])
def test_the_statistics_do_not_depend_on_how_lengths_are_folded(
    fold_every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validator holds examples' lengths and adds them to its statistics a block at a
    time: where the blocks fall changes nothing in the report."""
    from codetune.dataset import _measure

    lines = [
        generation(i, input_text="p" * (1 + i * 7 % 50), output_text="r" * (1 + i * 13 % 90))
        for i in range(11)
    ]
    monkeypatch.setattr(_measure, "_FOLD_EVERY", fold_every)
    stats = validate(dataset(lines))["stats"]
    prompts = [1 + i * 7 % 50 for i in range(11)]
    responses = [1 + i * 13 % 90 for i in range(11)]
    assert stats["prompt_chars"] == {
        "min": min(prompts),
        "max": max(prompts),
        "mean": round(sum(prompts) / 11, 1),
        "total": sum(prompts),
    }
    assert stats["response_chars"]["total"] == sum(responses)
    assert stats["tokens"]["prompt"]["total"] == sum(-(-n // 4) for n in prompts)
    assert stats["tokens"]["response"]["max"] == -(-max(responses) // 4)
    assert sum(stats["tokens"]["response"]["histogram"]) == 11


def test_the_summary_says_how_tokens_were_counted(model: bytes) -> None:
    """A tokenizer's counts are shown as counts; the estimate as one, with how to count."""
    from codetune.cli._validate import _token_line

    lines = [chat(i) for i in range(12)]
    exact = validate(dataset(lines), checks=(), tokenizer=SentencePiece(model))["stats"]
    shown = _token_line(exact)
    per_epoch = exact["tokens"]["per_epoch"]
    assert shown.endswith("; counted by sentencepiece") and "~" not in shown
    assert f", {per_epoch:,} an epoch" in shown
    estimated = _token_line(validate(dataset(lines))["stats"])
    assert "~" in estimated and "estimate: characters / 4" in estimated
    assert estimated.endswith("(give --tokenizer MODEL for exact counts)")
