"""What is measured of every well-formed example, whatever its format: lengths and tokens, the
per-example limits (S-9, gemini-tokens), the instruction and layout of its prompt (S-7, S-8),
exact repeats, and the checks that see its texts (codetune.dataset.checks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from codetune.dataset import prompts
from codetune.dataset._state import PassState
from codetune.dataset.checks import ExampleCheck, Texts
from codetune.dataset.report import Summary
from codetune.dataset.rules import (
    CHARS_PER_TOKEN,
    LIMITS_8K,
    MAX_GENERATION_EXAMPLES,
    Rule,
    estimate_tokens,
    token_weight,
)
from codetune.dataset.tokens import TokenStats

# Fingerprints kept for duplicate detection: twice the largest valid dataset, so memory stays
# bounded on files far over the limits (their later duplicates simply go unreported).
_MAX_FINGERPRINTS = 2 * MAX_GENERATION_EXAMPLES
_MAX_LAYOUTS = 50  # distinct prompt layouts tracked; further ones are counted as "other"
_FOLD_EVERY = 4096  # examples' lengths held before they join the statistics
_FIRST_LINES_SHOWN = 5
# The most characters whose token estimate fits the 8k models (S-9).
_FITS_8K_PROMPT_CHARS = LIMITS_8K["input"] * CHARS_PER_TOKEN
_FITS_8K_RESPONSE_CHARS = LIMITS_8K["output"] * CHARS_PER_TOKEN


class Layout(msgspec.Struct):
    examples: int = 0
    first_line: int = 0


class Measurement(msgspec.Struct):
    state: PassState
    tokens: TokenStats
    checks: Sequence[ExampleCheck] = ()
    prompt_chars: Summary = msgspec.field(default_factory=Summary)
    response_chars: Summary = msgspec.field(default_factory=Summary)
    # Lengths not yet in those summaries (and the token estimates): folded a block at a time,
    # in C, which costs a tenth of one summary update an example (benchmarks/README.md).
    pending_prompt_chars: list[int] = msgspec.field(default_factory=list)
    pending_response_chars: list[int] = msgspec.field(default_factory=list)
    # The same lengths for the token estimate (rules.token_weight): beyond ASCII a character
    # weighs its UTF-8 bytes, so CJK and emoji are not counted at a quarter token.
    pending_prompt_weight: list[int] = msgspec.field(default_factory=list)
    pending_response_weight: list[int] = msgspec.field(default_factory=list)
    over_8k: int = 0
    over_32k: int = 0
    over_model_limit: int = 0  # Gemini: examples over the model's tokens per example
    max_example_chars: int = 0  # Gemini: the characters whose token estimate fits
    without_instruction: int = 0
    without_instruction_lines: list[int] = msgspec.field(default_factory=list)
    layouts: dict[tuple[str, ...], Layout] = msgspec.field(default_factory=dict)
    other_layouts: int = 0
    fingerprints: dict[int, int] = msgspec.field(default_factory=dict)
    duplicates: int = 0

    def __post_init__(self) -> None:
        limit = self.state.rules.max_tokens_per_example
        if limit is not None:
            self.max_example_chars = limit * CHARS_PER_TOKEN

    def generation(self, number: int, prompt: str, response: str) -> None:
        opening = prompts.opening(prompt)
        self._example(
            number,
            len(prompt),
            response,
            prompts.has_instruction(opening),
            prompts.prompt_layout(opening),
            (prompt, response),
        )

    def conversation(self, number: int, system: str | None, contents: list[str]) -> None:
        """A well-formed conversation: everything before the last turn is the prompt, and the
        instruction may sit in the system text (context) or the opening user turn (S-7). The
        turns alternate from the user, so their texts alone identify a duplicate."""
        prompt_chars = len(system or "") + sum(map(len, contents[:-1]))
        opening = prompts.opening(contents[0])
        self._example(
            number,
            prompt_chars,
            contents[-1],
            prompts.has_instruction(opening)
            or (system is not None and prompts.has_instruction(prompts.opening(system))),
            prompts.prompt_layout(opening),
            (system, *contents),
        )

    def _example(
        self,
        number: int,
        prompt_chars: int,
        response: str,
        instructed: bool,
        layout: tuple[str, ...],
        texts: Texts,
    ) -> None:
        """Statistics and warnings of a well-formed example (S-7, S-8, S-9, duplicates), then
        the checks of its texts. The prompt is everything the model reads before the answer:
        the input text, or the chat's context and every turn before the last."""
        response_chars = len(response)
        if all(text is None or text.isascii() for text in texts):  # O(1) a text in CPython
            prompt_weight, response_weight = prompt_chars, response_chars
        else:
            prompt_weight = sum(token_weight(text) for text in texts[:-1] if text)
            response_weight = token_weight(response)
        self.pending_prompt_chars.append(prompt_chars)
        self.pending_response_chars.append(response_chars)
        self.pending_prompt_weight.append(prompt_weight)
        self.pending_response_weight.append(response_weight)
        if len(self.pending_prompt_chars) == _FOLD_EVERY:
            self.fold()
        if self.tokens.counter.exact:
            self.tokens.count(texts)
        if self.max_example_chars:  # Gemini: input and output together
            if prompt_weight + response_weight > self.max_example_chars:
                self._over_model_limit(number, prompt_weight + response_weight)
        # Most examples fit the 8k models: decided here without estimating tokens.
        elif prompt_chars > _FITS_8K_PROMPT_CHARS or response_chars > _FITS_8K_RESPONSE_CHARS:
            self._check_tokens(number, prompt_chars, response_chars)
        self._advice(number, instructed, layout, texts)

    def _advice(self, number: int, instructed: bool, layout: tuple[str, ...], texts: Texts) -> None:
        """S-7, S-8 and exact repeats, then the checks."""
        if not instructed:
            self.without_instruction += 1
            if len(self.without_instruction_lines) < _FIRST_LINES_SHOWN:
                self.without_instruction_lines.append(number)
        seen = self.layouts.get(layout)
        if seen is not None:
            seen.examples += 1
        elif len(self.layouts) >= _MAX_LAYOUTS:
            self.other_layouts += 1
        else:
            self.layouts[layout] = Layout(examples=1, first_line=number)
        fingerprint = hash(texts)
        first = self.fingerprints.get(fingerprint)
        if first is not None:
            self.duplicates += 1
            self.state.warn(Rule.DUPLICATE, f"example repeats line {first} exactly", number)
        elif len(self.fingerprints) < _MAX_FINGERPRINTS:
            self.fingerprints[fingerprint] = number
        for check in self.checks:
            check.example(number, texts, self.state)

    def fold(self) -> None:
        """The lengths held join the statistics."""
        self.prompt_chars.extend(self.pending_prompt_chars)
        self.response_chars.extend(self.pending_response_chars)
        if not self.tokens.counter.exact:
            self.tokens.estimate(self.pending_prompt_weight, self.pending_response_weight)
        self.pending_prompt_chars, self.pending_response_chars = [], []
        self.pending_prompt_weight, self.pending_response_weight = [], []

    def _over_model_limit(self, number: int, chars: int) -> None:
        self.over_model_limit += 1
        rules = self.state.rules
        self.state.warn(
            Rule.GEMINI_TOKENS,
            f"about {estimate_tokens(chars):,} tokens (estimated); {rules.base_model} "
            f"takes {rules.max_tokens_per_example or 0:,} per example and drops longer ones "
            "from training",
            number,
        )

    def _check_tokens(self, number: int, prompt_chars: int, response_chars: int) -> None:
        input_tokens = estimate_tokens(prompt_chars)
        output_tokens = estimate_tokens(response_chars)
        warning = prompts.token_limit_warning(input_tokens, output_tokens)
        if warning is None:
            return
        self.over_8k += 1
        if "every" in warning:
            self.over_32k += 1
        self.state.warn(Rule.TOKEN_LIMIT, warning, number)

    def check_stats(self) -> dict[str, Any]:
        """Each check's judgement of the whole file, and its stats by its name."""
        stats = {}
        for check in self.checks:
            found = check.finish(self.state)
            if found:
                stats[check.name] = found
        return stats

    def stats(self) -> dict[str, Any]:
        ranked = sorted(self.layouts.items(), key=lambda item: -item[1].examples)
        return {
            "prompt_chars": self.prompt_chars.to_dict(),
            "response_chars": self.response_chars.to_dict(),
            "estimated_tokens": {
                "method": f"estimate: characters / {CHARS_PER_TOKEN}",
                "prompt": _tokens(self.prompt_chars),
                "response": _tokens(self.response_chars),
                "examples_over_8k_limits": self.over_8k,
                "examples_over_32k_limits": self.over_32k,
                "examples_over_model_limit": self.over_model_limit,
            },
            "tokens": self.tokens.to_dict(),
            "examples_without_instruction": self.without_instruction,
            "prompt_layouts": [
                {"labels": list(layout), "examples": seen.examples, "first_line": seen.first_line}
                for layout, seen in ranked
            ],
            "duplicate_examples": self.duplicates,
        }


def _tokens(chars: Summary) -> dict[str, float | int]:
    """The estimated token counts of a character-count summary."""
    mean = chars.total / chars.count / CHARS_PER_TOKEN if chars.count else 0
    return {
        "min": estimate_tokens(chars.least),
        "max": estimate_tokens(chars.most),
        "mean": round(mean, 1),
    }
