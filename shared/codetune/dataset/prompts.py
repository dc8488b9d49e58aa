"""What the validator can tell about a prompt without a model: instruction, layout, token estimate.

All three are heuristics behind warnings, never errors (S-7, S-8, S-9).
"""

from __future__ import annotations

import re

import ahocorasick

from codetune.dataset.rules import LIMITS_8K, LIMITS_32K

# Prompts are judged by their opening, as a person reads them: the instruction and the layout
# labels come first, and what follows is mostly the code the prompt is about. Reading only the
# opening also keeps the cost per example small and bounded.
OPENING_CHARS = 1_000


def opening(prompt: str) -> str:
    """The lower-cased start of a prompt, the text both heuristics below read."""
    return prompt[:OPENING_CHARS].lower()


# S-7. Google's page contrasts "Calculate the sum of a list of integers." (no instruction) with
# "Write the code in Python: calculate the sum of a list of integers" (instruction): what makes
# an instruction is that it says what code to produce. A prompt counts as instructed when its
# opening names a programming language (a one-letter or common-word name only after "in",
# "using", "with" or a "language:" label), or asks for a piece of code with a verb.
LANGUAGES = (
    "python", "java", "javascript", "typescript", "golang", "rust", "kotlin", "swift", "ruby",
    "php", "scala", "sql", "bash", "shell", "powershell", "dart", "haskell", "perl", "lua",
    "julia", "terraform", "html", "css", "yaml", "solidity", "fortran", "cobol", "elixir",
    "clojure", "groovy", "objective-c", "verilog", "vhdl",
)  # fmt: skip
SYMBOL_LANGUAGES = ("c++", "c#")
CODE_NOUNS = (
    "code", "function", "class", "method", "script", "program", "query", "snippet", "module",
    "test", "api", "endpoint", "component", "sample", "cli", "regex", "regular expression",
    "dockerfile", "makefile",
)  # fmt: skip
_VERBS = (
    r"write|generate|create|implement|complete|refactor|fix|debug|explain|document|convert"
    r"|translate|port|optimi[sz]e|rewrite|add|review|test"
)
_NOUNS = "|".join(n.replace(" ", r"\ ") for n in CODE_NOUNS).replace("test", "tests?")
# The definition, as one regex (tests hold `has_instruction` to it).
INSTRUCTION = re.compile(
    r"\b(?:" + "|".join(re.escape(word) for word in LANGUAGES) + r")\b"
    r"|(?<![\w+\#])(?:c\+\+|c\#)(?![\w+\#])"
    r"|\b(?:(?:in|using|with)\s+|language[ \t]*:[ \t]*)(?:go|c|r)\b"
    r"|\b(?:" + _VERBS + r")\b[^.\n]{0,48}?\b(?:" + _NOUNS + r")s?\b"
)
# Searching that regex costs about 9 us an opening: each of its ~70 branches starts with a word
# boundary or a lookbehind, so `re` tries them all at every position. Instead one Aho-Corasick
# pass finds the languages and code nouns; a language is checked for word boundaries in place,
# a noun by the verb branch searched only in the 64 characters before it; the "in go" branch,
# the one with no keyword, runs only when nothing else matched. Same answers, in a third of the
# time (benchmarks/README.md).
_VERB_NOUN = re.compile(r"\b(?:" + _VERBS + r")\b[^.\n]{0,48}?\b(?:" + _NOUNS + r")s?\b")
# "go", "c" and "r" are words too: they name a language only after these (no leading \b, so
# that `re` can skip ahead; the boundary before is checked below).
_IN_GO = re.compile(r"(?:(?:in|using|with)\s+|language[ \t]*:[ \t]*)(?:go|c|r)\b")
_VERB_REACH = 64  # a verb (at most 9 letters) and up to 48 characters before its noun
_LANGUAGE, _SYMBOL, _NOUN = 1, 2, 3


def _keywords() -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for kind, words in ((_LANGUAGE, LANGUAGES), (_SYMBOL, SYMBOL_LANGUAGES), (_NOUN, CODE_NOUNS)):
        for word in words:
            automaton.add_word(word, (kind, len(word)))
    automaton.make_automaton()
    return automaton


_KEYWORDS = _keywords()


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"  # what `re` calls \w


def has_instruction(prompt_opening: str) -> bool:
    """True when the (lower-cased) opening says what code to produce (S-7)."""
    text, size = prompt_opening, len(prompt_opening)
    for end, (kind, length) in _KEYWORDS.iter(text):
        start, after = end - length + 1, end + 1
        # The text's ends count as a space: neither a word character nor "+" or "#".
        before_char = text[start - 1] if start else " "
        after_char = text[after] if after < size else " "
        if kind == _LANGUAGE:
            if not _is_word(before_char) and not _is_word(after_char):
                return True
        elif kind == _SYMBOL:
            if not (_is_word(before_char) or before_char in "+#") and not (
                _is_word(after_char) or after_char in "+#"
            ):
                return True
        else:
            # A verb-noun match ending with this noun lies within this window. `re` sees the
            # text before `pos` but takes `endpos` for the end of the text, so the word boundary
            # after a match ending there is checked against the real next character.
            found = _VERB_NOUN.search(text, max(0, start - _VERB_REACH), min(size, after + 1))
            if found and (found.end() == size or not _is_word(text[found.end()])):
                return True
    return any(
        not match.start() or not _is_word(text[match.start() - 1])
        for match in _IN_GO.finditer(text)
    )


# S-8. The page's example of a layout is labelled sections in a fixed order ("question:" then
# "context:"). A layout is the order of such labels at the start of a prompt's lines; the labels
# come from this fixed list so that a report names labels, never a dataset's own words.
LAYOUT_LABELS = (
    "question",
    "context",
    "instruction",
    "instructions",
    "input",
    "output",
    "task",
    "code",
    "language",
    "answer",
    "request",
    "problem",
    "description",
    "example",
    "examples",
    "requirements",
    "constraints",
    "query",
    "prompt",
    "response",
    "solution",
    "snippet",
    "file",
    "error",
    "test",
    "tests",
)
# Run on "\n" + the opening. A pattern that opens with a literal lets the regex engine jump from
# line to line; the possessive `*+` stops it backtracking through indentation.
_LAYOUT_LABEL = re.compile(r"\n[ \t]*+(" + "|".join(LAYOUT_LABELS) + r")[ \t]*+:")


def prompt_layout(prompt_opening: str) -> tuple[str, ...]:
    """The labels that structure a (lower-cased) opening, in order of first appearance.

    Only the text before the first code fence counts: code has "name:" lines of its own.
    """
    fence = prompt_opening.find("```")
    found = _LAYOUT_LABEL.findall("\n" + (prompt_opening if fence < 0 else prompt_opening[:fence]))
    return tuple(dict.fromkeys(found)) if found else ()


def token_limit_warning(input_tokens: int, output_tokens: int) -> str | None:
    """Which base models an example likely does not fit (S-9), or None when it fits them all."""
    if output_tokens > LIMITS_32K["output"] or input_tokens + output_tokens > LIMITS_32K["total"]:
        return (
            f"about {input_tokens:,} input and {output_tokens:,} output tokens (estimated): "
            f"over every code model's limits ({LIMITS_32K['total']:,} in all, "
            f"{LIMITS_32K['output']:,} output for the -32k models); shorten the example"
        )
    if input_tokens > LIMITS_8K["input"] or output_tokens > LIMITS_8K["output"]:
        return (
            f"about {input_tokens:,} input and {output_tokens:,} output tokens (estimated): "
            f"over code-bison@002's {LIMITS_8K['input']:,} input / {LIMITS_8K['output']:,} "
            "output tokens; it fits only the -32k models"
        )
    return None
