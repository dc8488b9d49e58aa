"""The rules about the whole file: the counts a line can cross as it is read (S-3, S-4, S-5's
upper bound, Gemini's sizes), and, once every line is read, the number of examples (S-2, S-5),
Gemini's file size and tokens, and the summaries of S-7 and S-8."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import orjson

from codetune.dataset import gemini_format as shape
from codetune.dataset._measure import Measurement
from codetune.dataset._state import PassState
from codetune.dataset.report import Summary
from codetune.dataset.rules import MAX_CHAT_AUTHOR_FIELDS, DatasetKind, DatasetRole, Rule

# The fewest bytes an example takes in Gemini's format besides its texts: two turns of one text
# part each, and its newline. Every text then adds at least its characters, so the texts'
# characters plus this per example is a floor on a converted file's size.
_GEMINI_EXAMPLE_BYTES = (
    len(
        orjson.dumps(
            {
                shape.CONTENTS: [
                    {shape.ROLE: role, shape.PARTS: [{shape.TEXT: ""}]} for role in shape.ROLES
                ]
            }
        )
    )
    + 1
)


class FileRules(msgspec.Struct):
    state: PassState
    examples: int = 0
    marks: tuple[int, int] = (0, 0)  # example counts at which a size limit is crossed
    author_fields: int = 0
    authors: Counter[str] = msgspec.field(default_factory=Counter)
    messages_per_example: Summary = msgspec.field(default_factory=Summary)

    def __post_init__(self) -> None:
        rules = self.state.rules
        self.marks = (rules.evaluation_examples[1] + 1, rules.max_training_examples + 1)

    # --- as the lines are read ------------------------------------------------------------------
    def crossed(self, number: int) -> None:
        """The example on this line is the first over a limit (`marks`): S-3, S-5's upper
        bound, Gemini's examples."""
        state, rules = self.state, self.state.rules
        if state.role is DatasetRole.EVALUATION:
            if self.examples == self.marks[0]:
                state.error(
                    rules.evaluation_rule,
                    f"example {self.examples:,} is over the {rules.evaluation_examples[1]:,} "
                    f"examples an evaluation dataset for {rules.base_model} may hold",
                    number,
                )
        elif self.examples == self.marks[1] and (
            not rules.legacy or state.kind is not DatasetKind.CHAT
        ):
            state.error(
                rules.size_rule,
                f"example {self.examples:,} is over the {rules.max_training_examples:,} examples "
                f"a training dataset for {rules.base_model} may hold",
                number,
            )

    def fit_author_fields(self, count: int) -> bool:
        """Whether `count` more author fields keep within S-4."""
        limit = self.state.rules.max_chat_author_fields
        return (
            limit is None
            or self.state.role is not DatasetRole.TRAINING
            or self.author_fields + count <= limit
        )

    def author_field(self, number: int) -> None:
        """One more author field (S-4), reported on the line that crosses the limit."""
        self.author_fields += 1
        limit = self.state.rules.max_chat_author_fields
        if (
            self.state.role is DatasetRole.TRAINING
            and limit is not None
            and self.author_fields == limit + 1
        ):
            self.state.error(
                Rule.MAX_AUTHOR_FIELDS,
                f"author field {self.author_fields:,} is over the {MAX_CHAT_AUTHOR_FIELDS:,} "
                "author fields a code-chat dataset may hold (summed over all messages)",
                number,
            )

    # --- once the whole file is read ------------------------------------------------------------
    def finish(self, measure: Measurement) -> None:
        self._example_count()
        state, rules = self.state, self.state.rules
        if state.role is DatasetRole.TRAINING and rules.max_training_file_bytes is not None:
            self._converted_size(measure, rules.max_training_file_bytes)
        if self.examples and measure.over_model_limit == self.examples:
            state.error(
                Rule.GEMINI_TOKENS,
                f"every example is over the {rules.max_tokens_per_example:,} tokens "
                f"{rules.base_model} takes: Google would drop them all",
                None,
            )
        self._summaries(measure)

    def _example_count(self) -> None:
        """S-2 (and its advice), S-5's lower bound."""
        state, rules = self.state, self.state.rules
        if state.role is DatasetRole.EVALUATION:
            low, high = rules.evaluation_examples
            if self.examples < low:
                state.error(
                    rules.evaluation_rule,
                    f"{count(self.examples, 'example')}; an evaluation dataset for "
                    f"{rules.base_model} needs {low:,} to {high:,}",
                    None,
                )
        elif self.examples < rules.min_training_examples:
            state.error(
                Rule.MIN_EXAMPLES,
                f"{count(self.examples, 'example')}; a training dataset needs at least "
                f"{rules.min_training_examples}",
                None,
            )
        elif self.examples < rules.recommended_training_examples:
            state.warn(
                Rule.MIN_EXAMPLES,
                f"{count(self.examples, 'example')}; {rules.recommended_training_examples} or "
                f"more give better results with {rules.base_model}",
                None,
            )

    def _converted_size(self, measure: Measurement, limit: int) -> None:
        """Gemini's file limit, judged here rather than by tune's conversion hours later: a
        file surely over it (its floor, from the texts' characters) never reaches tune."""
        texts = measure.prompt_chars.total + measure.response_chars.total
        floor = texts + self.examples * _GEMINI_EXAMPLE_BYTES
        if floor > limit:
            self.state.error(
                Rule.GEMINI_SIZE,
                f"at least {floor:,} bytes once converted to Gemini's format ({texts:,} "
                f"characters of text in {count(self.examples, 'example')}); "
                f"{self.state.rules.base_model} takes a training file of at most {limit:,} bytes",
                None,
            )

    def _summaries(self, measure: Measurement) -> None:
        """S-7 and S-8 over the whole file."""
        if measure.without_instruction:
            lines = ", ".join(map(str, measure.without_instruction_lines))
            self.state.warn(
                Rule.INSTRUCTION,
                f"{count(measure.without_instruction, 'example')} without an instruction (from "
                f"line {lines}); open each prompt with one, e.g. 'Write the code in Python: ...'",
                None,
            )
        layouts = len(measure.layouts) + (measure.other_layouts > 0)
        if layouts > 1:
            ranked = sorted(measure.layouts.items(), key=lambda item: -item[1].examples)
            shown = "; ".join(
                f"{_layout_name(layout)}: {seen.examples:,} (first on line {seen.first_line})"
                for layout, seen in ranked[:3]
            )
            self.state.warn(
                Rule.PROMPT_LAYOUT,
                f"prompts use {layouts} layouts ({shown}); "
                "use the one layout production prompts will have",
                None,
            )

    def chat_stats(self) -> dict[str, Any]:
        return {
            "author_fields": self.author_fields,
            "authors": dict(sorted(self.authors.items())),
            "messages_per_example": self.messages_per_example.to_dict(),
        }


def count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _layout_name(layout: tuple[str, ...]) -> str:
    return " then ".join(f"'{label}:'" for label in layout) if layout else "no labels"
