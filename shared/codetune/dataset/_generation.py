"""The seed's code-generation examples: `{"input_text", "output_text"}` (S-1)."""

from __future__ import annotations

from typing import Any

from codetune.dataset._fields import is_text, text_field, unknown_fields
from codetune.dataset._formats import FormatChecker, seed_example
from codetune.dataset.rules import GENERATION_FIELDS, DatasetKind


class SeedGeneration(FormatChecker):
    def line(self, number: int, data: bytes | memoryview, example: dict[str, Any]) -> None:
        if len(example) == 2:
            # The fast path, for the well-formed examples that make up most datasets.
            prompt, response = example.get("input_text"), example.get("output_text")
            if is_text(prompt) and is_text(response):
                self.scan.generation(number, data, example)
                self.measure.generation(number, prompt, response)
                return
        self.scan.any(number, data, example)
        if seed_example(self.state, number, example) is DatasetKind.GENERATION:
            self.detailed(number, example)

    def detailed(self, number: int, example: dict[str, Any]) -> None:
        state = self.state
        prompt = text_field(state, number, example, "input_text", "input_text")
        response = text_field(state, number, example, "output_text", "output_text")
        if len(example) != 2 or prompt is None or response is None:
            unknown_fields(state, number, example, GENERATION_FIELDS, "")
        if prompt is not None and response is not None:
            self.measure.generation(number, prompt, response)
