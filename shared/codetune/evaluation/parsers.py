"""Whether code parses in its language: Python with its own parser, other languages with the
tree-sitter project's grammars. One row per language: its name, the fence tags that name it,
and the parser that reads it.

Sources:
- [ast] Python's `ast.parse`: the grammar of the Python that runs the evaluation (3.11 in the
  functions' runtime). SyntaxError (IndentationError included), a NUL byte (ValueError) and
  nesting too deep for the parser (RecursionError, MemoryError) are "does not parse".
- [tree-sitter] py-tree-sitter with the grammar wheels of the tree-sitter organisation
  (tree-sitter-javascript, -typescript, ...; each a compiled parser, nothing fetched at run
  time). Code parses when its syntax tree holds no ERROR and no MISSING node (`has_error`).
Parsing is syntax, not compiling: the grammars take snippets (a Go statement outside a
function, a Java method without its class), and ast takes a `return` outside a function.
Fence tags are those GitHub's Markdown (linguist) gives the languages, lowercased.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from functools import cache
from typing import Any

import msgspec


class Language(msgspec.Struct, frozen=True):
    name: str
    tags: tuple[str, ...]  # fence info strings that name it, lowercase
    grammar: str | None  # "module:function" of a tree-sitter grammar; None: Python's ast
    source: str


LANGUAGES: tuple[Language, ...] = (
    Language("python", ("python", "py", "python3", "py3"), None, "ast"),
    Language(
        "javascript",
        ("javascript", "js", "jsx", "mjs", "cjs", "node"),
        "tree_sitter_javascript:language",
        "tree-sitter",
    ),
    Language(
        "typescript",
        ("typescript", "ts"),
        "tree_sitter_typescript:language_typescript",
        "tree-sitter",
    ),
    Language("tsx", ("tsx",), "tree_sitter_typescript:language_tsx", "tree-sitter"),
    Language("java", ("java",), "tree_sitter_java:language", "tree-sitter"),
    Language("go", ("go", "golang"), "tree_sitter_go:language", "tree-sitter"),
    Language("rust", ("rust", "rs"), "tree_sitter_rust:language", "tree-sitter"),
    Language("c", ("c", "h"), "tree_sitter_c:language", "tree-sitter"),
    Language(
        "cpp", ("cpp", "c++", "cxx", "cc", "hpp", "hxx"), "tree_sitter_cpp:language", "tree-sitter"
    ),
    Language("csharp", ("csharp", "c#", "cs"), "tree_sitter_c_sharp:language", "tree-sitter"),
    Language("bash", ("bash", "sh", "shell"), "tree_sitter_bash:language", "tree-sitter"),
)
BY_TAG = {tag: language for language in LANGUAGES for tag in language.tags}


def language_of(tag: str | None) -> Language | None:
    """The language a fence tag (or a dataset's language) names, if one parses here."""
    return BY_TAG.get(tag.strip().lower()) if tag else None


def parses(code: str, language: Language) -> bool:
    """Whether the code is a well-formed source file of the language (blank code is not)."""
    if not code.strip():
        return False
    if language.grammar is None:
        return _python_parses(code)
    tree = _parser(language.grammar).parse(code.encode("utf-8", "replace"))
    return not tree.root_node.has_error


def _python_parses(code: str) -> bool:
    try:
        with warnings.catch_warnings():  # SyntaxWarning (an invalid escape) is still Python
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


@cache
def _parser(grammar: str) -> Any:
    """A tree-sitter parser for the grammar, imported on first use (the evaluation extra)."""
    import tree_sitter

    module, _, function = grammar.partition(":")
    language = getattr(importlib.import_module(module), function)()
    return tree_sitter.Parser(tree_sitter.Language(language))


def markdown_table() -> str:
    """The documentation's language table (docs/evaluation.md), from LANGUAGES."""
    rows = ["| language | fence tags | parser |", "|---|---|---|"]
    for language in LANGUAGES:
        parser = (
            "Python's `ast.parse`"
            if language.grammar is None
            else f"tree-sitter, `{language.grammar.partition(':')[0]}`"
        )
        tags = ", ".join(f"`{tag}`" for tag in language.tags)
        rows.append(f"| {language.name} | {tags} | {parser} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m codetune.evaluation.parsers > the table for the docs
    print(markdown_table(), end="")
