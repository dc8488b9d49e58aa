"""Token counts: what a tuning job will read, and bill.

Exact where the deployment names a tokenizer for the target model (a SentencePiece model file:
`CODETUNE_TOKENIZER_MODEL`, or `codetune validate --tokenizer FILE`); otherwise estimated as
characters / 4 (Google: "a token is equivalent to about 4 characters"), and labelled so. The
report keeps running sums and a histogram, never per-example lists: memory stays flat.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import msgspec

from codetune.dataset.report import Summary
from codetune.dataset.rules import CHARS_PER_TOKEN, estimate_tokens

# Histogram buckets: an example's tokens fall in the first bucket whose upper bound holds them
# (powers of two up to 2^17 = 131,072, Gemini's tokens per example, then "more").
HISTOGRAM_BOUNDS = tuple(2**power for power in range(18))


class TokenCounter(Protocol):
    """Counts the tokens of a text for one base model's tokenizer."""

    @property
    def method(self) -> str:
        """What the report says of its counts."""

    @property
    def exact(self) -> bool: ...

    def count(self, text: str) -> int: ...


class Estimate:
    """Characters / 4, rounded up: Google's rule of thumb, with no tokenizer."""

    method = f"estimate: characters / {CHARS_PER_TOKEN}"
    exact = False

    def count(self, text: str) -> int:
        return estimate_tokens(len(text))


class SentencePiece:
    """A SentencePiece model file: the exact tokens of the model it belongs to."""

    exact = True

    def __init__(self, model: str | Path | bytes) -> None:
        import sentencepiece  # only a deployment that names a tokenizer pays for its import

        if isinstance(model, bytes):
            self._processor = sentencepiece.SentencePieceProcessor(model_proto=model)
            self.method = "sentencepiece"
        else:
            self._processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
            self.method = f"sentencepiece: {Path(model).name}"
        self._encode = self._processor.encode

    def count(self, text: str) -> int:
        return len(self._encode(text))


@cache
def deployment_tokenizer(model: str | None) -> TokenCounter | None:
    """The deployment's tokenizer (a SentencePiece model file shipped with the function),
    loaded once per instance; None without one."""
    return SentencePiece(model) if model else None


class _Sum(Summary):
    """A Summary of tokens per example, with their histogram."""

    histogram: list[int] = msgspec.field(default_factory=lambda: [0] * (len(HISTOGRAM_BOUNDS) + 1))

    def add(self, tokens: int) -> None:
        Summary.add(self, tokens)
        # bit_length: the bucket of the smallest power of two at or above `tokens`.
        self.histogram[min((tokens - 1).bit_length() if tokens else 0, len(HISTOGRAM_BOUNDS))] += 1

    def extend(self, values: list[int]) -> None:
        Summary.extend(self, values)
        last = len(HISTOGRAM_BOUNDS)
        buckets = Counter([(tokens - 1).bit_length() if tokens else 0 for tokens in values])
        for bucket, examples in buckets.items():
            self.histogram[min(bucket, last)] += examples

    def to_dict(self) -> dict[str, Any]:
        return {**Summary.to_dict(self), "histogram": self.histogram}


class TokenStats(msgspec.Struct):
    """Prompt and response tokens of every well-formed example."""

    counter: TokenCounter = msgspec.field(default_factory=Estimate)
    prompt: _Sum = msgspec.field(default_factory=_Sum)
    response: _Sum = msgspec.field(default_factory=_Sum)

    def count(self, texts: tuple[str | None, ...]) -> None:
        """One example's exact tokens: its prompt texts, then its response."""
        counter = self.counter
        self.prompt.add(sum(counter.count(text) for text in texts[:-1] if text))
        self.response.add(counter.count(texts[-1] or ""))

    def estimate(self, prompt_chars: list[int], response_chars: list[int]) -> None:
        """Many examples' estimated tokens, from the lengths the validator already has."""
        self.prompt.extend(list(map(estimate_tokens, prompt_chars)))
        self.response.extend(list(map(estimate_tokens, response_chars)))

    @property
    def per_epoch(self) -> int:
        """Every token of every example: what one epoch of tuning reads."""
        return self.prompt.total + self.response.total

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.counter.method,
            "exact": self.counter.exact,
            "prompt": self.prompt.to_dict(),
            "response": self.response.to_dict(),
            "per_epoch": self.per_epoch,
            "histogram_upper_bounds": list(HISTOGRAM_BOUNDS),
        }
