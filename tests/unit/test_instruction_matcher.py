"""S-7's fast matcher (one Aho-Corasick pass over languages, verbs and nouns, then checks in
place) gives exactly the answers of the rule's definition, the `INSTRUCTION` regex, on realistic
prompts and on generated text made of the pieces where the two could part: keywords inside
words, word boundaries, symbols, a word that is both verb and noun, plurals, the verb's
48-character reach, full stops and line breaks between verb and noun, the white space and
labels before "go", "c" and "r"."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import realistic
from codetune.dataset.prompts import (
    CODE_NOUNS,
    INSTRUCTION,
    LANGUAGES,
    SYMBOL_LANGUAGES,
    VERBS,
    has_instruction,
    opening,
)

pytestmark = pytest.mark.unit

PIECES = [
    *LANGUAGES[:12],
    "objective-c",
    *SYMBOL_LANGUAGES,
    *CODE_NOUNS,
    *VERBS,
    "in", "using", "with", "language", "language:", "go", "c", "r", "s", "ss", "x", "_", "é", "9",
    "+", "#", "-", "re", "un", "la", "sub",  # keywords inside words: rewrite, latest, subclass
    " ", " ", " ", "  ", "\t", "\n", "\xa0", "\u2028", "\x1c", ".", ",", ":", " : ",
    "the quick brown fox ", "a" * 20,
]  # fmt: skip


def test_on_realistic_prompts_both_agree() -> None:
    generation = itertools.islice(realistic.generation_lines(seed=5), 3000)
    chat = itertools.islice(realistic.chat_lines(seed=6), 1000)
    answers = []
    for line in itertools.chain(generation, chat):
        example = orjson.loads(line)
        for text in [
            example.get("input_text"),
            *(m["content"] for m in example.get("messages", [])),
        ]:
            if text:
                prompt = opening(text)
                assert has_instruction(prompt) == (INSTRUCTION.search(prompt) is not None), prompt
                answers.append(has_instruction(prompt))
    assert any(answers) and not all(answers)  # both answers were put to the test


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_on_generated_text_both_agree(text: str) -> None:
    assert has_instruction(text) == (INSTRUCTION.search(text) is not None)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    st.sampled_from(["in", "using", "with", "language", "xin", "in_"]),
    st.lists(st.sampled_from([" ", "\t", "\n", "\xa0", "\u3000", ":", "x"]), max_size=6).map(
        "".join
    ),
    st.sampled_from(["go", "c", "r", "gox", "c++", "r."]),
)
def test_the_in_go_branch_agrees(before: str, word: str, space: str, name: str) -> None:
    text = before + word + space + name
    assert has_instruction(text) == (INSTRUCTION.search(text) is not None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write the code in python: sum a list", True),
        ("trust me, it works", False),  # "rust" inside a word
        ("in c++ please", True),
        ("c++x is not a language", False),
        ("please port it to go", False),  # "go" is a language only after in/using/with
        ("do it using  go", True),
        ("question: merge two lists?\nlanguage: go\nanswer:", True),  # a labelled prompt
        ("the language:cobra", False),
        ("write a\nfunction", False),  # a verb reaches its noun only within one sentence
        ("write " + "x" * 45 + " function", True),
        ("write " + "x" * 60 + " function", False),
        ("generate unit tests", True),
        ("generate the functionality", False),
        ("test the tests", True),  # "test" is a verb and a noun: two words, though
        ("tests", False),
        ("test testss", True),  # the definition's "tests?" then "s?"
        ("write codess", False),
        ("rewrite this class", True),
        ("prewrite this class", False),
        ("write it. then a function", False),
        ("write\xa0function", True),
        ("language :\tc", True),  # spaces or tabs either side of the label's colon
        ("language\n:c", False),
        ("language:\t c", True),
        ("in\u2028go", True),  # any white space of Python's
        ("main go", False),
    ],
)
def test_the_rules_edges(text: str, expected: bool) -> None:
    assert has_instruction(text) is expected
    assert (INSTRUCTION.search(text) is not None) is expected
