"""What the validator can tell about a prompt without a model: instruction, layout, token estimate.

All three are heuristics behind warnings, never errors (S-7, S-8, S-9).
"""

from __future__ import annotations

import re

from codetune.dataset.rules import CHARS_PER_TOKEN, LIMITS_8K, LIMITS_32K

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
# opening names a programming language, or asks for a piece of code with a verb.
_INSTRUCTION = re.compile(
    r"""
    \b(?:python|java|javascript|typescript|golang|rust|kotlin|swift|ruby|php|scala|sql|bash
       |shell|powershell|dart|haskell|perl|lua|julia|terraform|html|css|yaml|solidity
       |fortran|cobol|elixir|clojure|groovy|objective-c|verilog|vhdl)\b
    | (?<![\w+\#])(?:c\+\+|c\#)(?![\w+\#])
    | \b(?:in|using|with)\s+(?:go|c|r)\b
    | \b(?:write|generate|create|implement|complete|refactor|fix|debug|explain|document|convert
       |translate|port|optimi[sz]e|rewrite|add|review|test)\b[^.\n]{0,48}?
      \b(?:code|function|class|method|script|program|query|snippet|module|tests?|api|endpoint
       |component|sample|cli|regex|regular\ expression|dockerfile|makefile)s?\b
    """,
    re.VERBOSE,  # run on lower-cased text: several times faster than IGNORECASE
)


def has_instruction(prompt_opening: str) -> bool:
    """True when the (lower-cased) opening says what code to produce (S-7)."""
    return _INSTRUCTION.search(prompt_opening) is not None


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


def estimate_tokens(characters: int) -> int:
    """Estimated tokens for a text of this many characters (an estimate, not a tokenizer)."""
    return -(-characters // CHARS_PER_TOKEN)


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
