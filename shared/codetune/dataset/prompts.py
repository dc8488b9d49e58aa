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
VERBS = (
    "write", "generate", "create", "implement", "complete", "refactor", "fix", "debug", "explain",
    "document", "convert", "translate", "port", "optimise", "optimize", "rewrite", "add",
    "review", "test",
)  # fmt: skip
_VERBS = "|".join(VERBS)
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
# pass finds every keyword: languages, verbs and code nouns. A language is checked for word
# boundaries in place; a noun reaches back to the latest whole-word verb (a later one cannot
# start before it, and an earlier one's gap holds the latest one's); the "in go" branch, the one
# with no keyword, runs only when nothing else matched, from the few "go", "c" and "r" that
# follow a space or a colon. Same answers (tests hold the two to each other), in about a
# quarter of the regex's time (benchmarks/README.md).
_LANGUAGE, _SYMBOL, _NOUN, _VERB = 1, 2, 4, 8
_VERB_GAP = 48  # the most characters between a verb and its noun
_GO_C_R = re.compile(r"[\s:](?:go|c|r)\b")


def _keywords() -> ahocorasick.Automaton:
    kinds: dict[str, int] = {}
    for kind, words in (
        (_LANGUAGE, LANGUAGES),
        (_SYMBOL, SYMBOL_LANGUAGES),
        (_NOUN, CODE_NOUNS),
        (_VERB, VERBS),
    ):
        for word in words:
            kinds[word] = kinds.get(word, 0) | kind  # "test" is a verb and a noun
    automaton = ahocorasick.Automaton()
    for word, kind in kinds.items():
        automaton.add_word(word, (kind, len(word)))
    automaton.make_automaton()
    return automaton


_KEYWORDS = _keywords()


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"  # what `re` calls \w


def has_instruction(prompt_opening: str) -> bool:
    """True when the (lower-cased) opening says what code to produce (S-7)."""
    text, size = prompt_opening, len(prompt_opening)
    verb_end = -1  # where the latest whole-word verb ends
    for end, (kind, length) in _KEYWORDS.iter(text):
        start, after = end - length + 1, end + 1
        # The text's ends count as a space: neither a word character nor "+" or "#".
        before_char = text[start - 1] if start else " "
        after_char = text[after] if after < size else " "
        if kind == _SYMBOL:
            if not (_is_word(before_char) or before_char in "+#") and not (
                _is_word(after_char) or after_char in "+#"
            ):
                return True
            continue
        if _is_word(before_char):
            continue  # every other keyword starts a word
        ends_word = not _is_word(after_char)
        if kind & _LANGUAGE and ends_word:
            return True
        if (
            kind & _NOUN
            and verb_end >= 0
            and start - verb_end <= _VERB_GAP
            and text.find(".", verb_end, start) < 0
            and text.find("\n", verb_end, start) < 0
            and (ends_word or _plural_ends_word(text, after, text.startswith("test", start)))
        ):
            return True
        if kind & _VERB and ends_word:
            verb_end = after
    return any(_in_go(text, match.start() + 1) for match in _GO_C_R.finditer(text))


def _plural_ends_word(text: str, after: int, test: bool) -> bool:
    """Whether the noun ending at `after` ends its word with an "s" (or "ss": "tests?" takes one
    more)."""
    for index in range(after, after + (2 if test else 1)):
        if index >= len(text) or text[index] != "s":
            return False
        if index + 1 == len(text) or not _is_word(text[index + 1]):
            return True
    return False


def _in_go(text: str, name: int) -> bool:
    """Whether the "go", "c" or "r" at `name` follows "in", "using" or "with" and white space,
    or a "language:" label, each a word of its own."""
    index = name
    while index and text[index - 1].isspace():
        index -= 1
    if index < name:
        for word in ("in", "using", "with"):
            if text.endswith(word, 0, index) and _starts_word(text, index - len(word)):
                return True
    index = name
    while index and text[index - 1] in " \t":
        index -= 1
    if not index or text[index - 1] != ":":
        return False
    index -= 1
    while index and text[index - 1] in " \t":
        index -= 1
    return text.endswith("language", 0, index) and _starts_word(text, index - len("language"))


def _starts_word(text: str, index: int) -> bool:
    return index >= 0 and (index == 0 or not _is_word(text[index - 1]))


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
