"""The evaluation's metrics on hand-checked answers: exact match after whitespace
normalisation, sacrebleu's chrF, whether the answer's code parses in the reference's language,
and the length ratio (codetune.evaluation.metrics, fences, parsers)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from codetune.evaluation.fences import Block, fenced_blocks
from codetune.evaluation.metrics import (
    BY_NAME,
    METRICS,
    Direction,
    chrf,
    code_parses,
    exact_match,
    length_ratio,
    normalise,
    score,
)
from codetune.evaluation.metrics import (
    markdown_table as metrics_table,
)
from codetune.evaluation.parsers import LANGUAGES, language_of, parses
from codetune.evaluation.parsers import markdown_table as languages_table

PY = "def add(x, y):\n    return x + y\n"


def fenced(tag: str, code: str) -> str:
    return f"Here it is:\n\n```{tag}\n{code}```\n\nIt adds.\n"


def test_whitespace_normalisation_makes_runs_one_space_and_trims_but_keeps_case() -> None:
    assert normalise("  def f():\r\n\t return  1 \u00a0\n") == "def f(): return 1"
    assert exact_match("def f():\n    return 1\n\n", "def f():  return 1") == 1.0
    assert exact_match("def f(): return 1", "def F(): return 1") == 0.0
    assert exact_match("x=1", "x = 1") == 0.0  # whitespace inside a token run still counts


def test_chrf_is_sacrebleus_sentence_score_checked_by_hand() -> None:
    assert chrf(PY, PY) == 100.0
    assert chrf("", PY) == 0.0
    # "ab" against "abc": orders 1 and 2 count (the others have no hypothesis n-gram);
    # precision 1 and 1, recall 2/3 and 1/2: average P = 1, R = 7/12;
    # F2 = 5PR / (4P + R) = (35/12) / (55/12) = 7/11.
    assert chrf("ab", "abc") == pytest.approx(100 * 7 / 11)
    assert chrf("x+1", "x + 1") == 100.0  # sacrebleu's chrF ignores whitespace


def test_fenced_blocks_read_tags_indentation_tildes_and_an_unclosed_fence() -> None:
    assert fenced_blocks("no fence here") is None
    text = "a\n```Python extra\nx = 1\n```\n  ~~~~\n  y = 2\n  ~~~~\n```go\nfunc"
    assert fenced_blocks(text) == [
        Block("python", "x = 1\n"),
        Block(None, "y = 2\n"),
        Block("go", "func"),  # cut off at the token limit: runs to the end
    ]
    # A shorter fence or another character does not close a block.
    assert fenced_blocks("````\n```\n~~~\n````") == [Block(None, "```\n~~~\n")]


def test_python_answers_parse_with_ast() -> None:
    assert code_parses(fenced("python", PY), PY, "python") == 1.0
    assert code_parses(PY, fenced("py", PY)) == 1.0  # unfenced answer: the reference's language
    assert code_parses(fenced("python", "def add(x, y)\n    return x\n"), PY, "python") == 0.0
    assert code_parses("def add(x, y):\nreturn x\n", PY, "python") == 0.0  # IndentationError
    assert code_parses("print('\\d')\n", PY, "python") == 1.0  # a SyntaxWarning still parses
    assert code_parses("x = 1\x00\n", PY, "python") == 0.0  # NUL: ValueError, not a crash
    assert code_parses("(" * 10_000 + ")" * 10_000, PY, "python") == 0.0  # too deep


def test_every_block_of_the_language_must_parse_and_one_must_exist() -> None:
    good, bad = fenced("python", PY), fenced("python", "def (:\n")
    assert code_parses(good + bad, PY, "python") == 0.0
    assert code_parses(good + fenced("bash", "pip install ((("), PY, "python") == 1.0
    assert code_parses(fenced("javascript", "let x = 1;\n"), PY, "python") == 0.0  # wrong one
    assert code_parses(fenced("python", "   \n"), PY, "python") == 0.0  # blank is no code


def test_without_code_in_the_reference_the_metric_does_not_apply() -> None:
    assert code_parses(PY, "It returns the sum of x and y.", "python") is None
    assert code_parses(PY, PY) is None  # unfenced, and no dataset language to read it in
    assert code_parses(PY, fenced("haskell", "add x y = x + y\n"), "python") is None
    assert code_parses(PY, PY, "cobol") is None


@pytest.mark.parametrize(
    ("tag", "good", "bad"),
    [
        ("js", "const f = (x) => x + 1;\n", "const f = (x) => ;\n"),
        ("jsx", "const a = <div>{x}</div>;\n", "const a = <div>{x}</span;\n"),
        ("ts", "let n: number = 1;\n", "let n: = 1;\n"),
        ("tsx", "const a = <b>{n as number}</b>;\n", "const a = <b>{n as }</b>;\n"),
        ("java", "class A { int f() { return 1; } }\n", "class A { int f( }\n"),
        ("go", "package main\n\nfunc f() int { return 1 }\n", "package main\nfunc f( {\n"),
        ("rust", "fn f() -> i32 { 1 }\n", "fn f( -> i32 { 1 }\n"),
        ("c", "int f(void) { return 1; }\n", "int f(void) { return 1 }\n"),
        ("c++", "template <class T> T f(T x) { return x; }\n", "template <class T T f(\n"),
        ("cs", "class A { int F() => 1; }\n", "class A { int F() => ; }\n"),
        ("sh", 'for f in *; do echo "$f"; done\n', "for f in *; do echo; \n"),
    ],
)
def test_tree_sitter_grammars_tell_good_code_from_broken(tag: str, good: str, bad: str) -> None:
    language = language_of(tag)
    assert language is not None and parses(good, language) and not parses(bad, language)
    assert code_parses(fenced(tag, bad), fenced(tag, good)) == 0.0
    assert code_parses(fenced(tag, good), fenced(tag, good)) == 1.0


def test_every_language_row_has_a_parser_that_loads_and_distinct_tags() -> None:
    tags = [tag for language in LANGUAGES for tag in language.tags]
    assert len(tags) == len(set(tags))
    for language in LANGUAGES:
        assert language.source in {"ast", "tree-sitter"}
        assert parses("\n", language) is False


def test_the_length_ratio_counts_normalised_characters_plus_one() -> None:
    assert length_ratio("abc", "abc") == 1.0
    assert length_ratio("a  b\n", "a b c d") == pytest.approx(4 / 8)  # "a b" vs "a b c d"
    assert length_ratio("", "abc") == 0.25  # finite: compared as |ln 0.25|
    metric = BY_NAME["length_ratio"]
    assert metric.compared(0.5) == metric.compared(2.0) == pytest.approx(math.log(2))
    assert metric.sign == -1 and BY_NAME["chrf"].sign == 1


def test_the_table_scores_every_metric_by_name_with_definition_and_source() -> None:
    assert [m.name for m in METRICS] == ["exact_match", "chrf", "code_parses", "length_ratio"]
    assert all(m.definition and m.source and isinstance(m.direction, Direction) for m in METRICS)
    scores = score(fenced("python", PY), PY, "python")
    assert scores["exact_match"] == 0.0 and scores["code_parses"] == 1.0
    assert 0 < (scores["chrf"] or 0) < 100 and (scores["length_ratio"] or 0) > 1
    assert score("Sure.", "A sentence.", "python")["code_parses"] is None


def test_the_docs_show_the_metric_and_language_tables_as_the_code_has_them() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "evaluation.md").read_text()
    for name, table in (("metrics", metrics_table), ("languages", languages_table)):
        shown = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
        assert shown is not None, name
        assert shown.group(1) == table(), f"run: python -m codetune.evaluation.{name}"
