"""Gemini models that take supervised tuning, and their limits.

From Google's "About supervised fine-tuning for Gemini models" (Vertex AI), limitations table:
Gemini 2.5 Flash and Flash-Lite take up to 131,072 input and output tokens per training
example, a validation dataset of up to 5,000 examples, a training file of up to 1 GB of JSONL
(1M text examples), adapter sizes 1, 2, 4, 8 and 16. Gemini 2.5 Pro: the same token, file and
validation limits, adapter sizes 1, 2, 4 and 8.
"""

from __future__ import annotations

from dataclasses import dataclass

ADAPTER_SIZES = {
    1: "ADAPTER_SIZE_ONE",
    2: "ADAPTER_SIZE_TWO",
    4: "ADAPTER_SIZE_FOUR",
    8: "ADAPTER_SIZE_EIGHT",
    16: "ADAPTER_SIZE_SIXTEEN",
}
MAX_TOKENS_PER_EXAMPLE = 131_072
MAX_VALIDATION_EXAMPLES = 5_000
MAX_TRAINING_EXAMPLES = 1_000_000
MAX_TRAINING_FILE_BYTES = 1024**3
RECOMMENDED_EXAMPLES = 100  # Google: start with 100 to 500 examples


@dataclass(frozen=True, slots=True)
class GeminiModel:
    name: str
    adapter_sizes: tuple[int, ...]


GEMINI_MODELS = {
    model.name: model
    for model in (
        GeminiModel("gemini-2.5-flash", (1, 2, 4, 8, 16)),
        GeminiModel("gemini-2.5-flash-lite", (1, 2, 4, 8, 16)),
        GeminiModel("gemini-2.5-pro", (1, 2, 4, 8)),
    )
}
