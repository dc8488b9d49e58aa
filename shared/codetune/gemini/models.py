"""The Gemini base models that supervised tuning accepts, their limits, regions and lifecycle.

One row per model, each citing where it was read (late 2026). Where a page could not be read,
the row says so rather than guess; such a value falls back to what Vertex AI itself checks.

Sources:
- [tuning] "About supervised fine-tuning for Gemini models" and the tuning API reference
  (cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning;
  docs.cloud.google.com/gemini-enterprise-agent-platform/reference/models/tuning): the supported
  models (3.5 Flash-Lite, 3.5 Flash, 3.1 Flash-Lite, 2.5 Pro, 2.5 Flash, 2.5 Flash-Lite) and the
  limitations tables (2.5 Flash / Flash-Lite: 131,072 tokens per example, 5,000 validation
  examples, 1 GB JSONL, 1M text examples, adapter sizes 1-16; 2.5 Pro and 2.0 Flash: adapter
  sizes 1-8). The 3.5 Flash / Flash-Lite table exists but its values were not read.
- [regions] "Supervised fine-tuning region settings"
  (cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-region-settings).
- [lifecycle] Gemini API "Gemini deprecations" (ai.google.dev/gemini-api/docs/deprecations):
  release and shutdown dates and recommended replacements; Vertex AI's own dates may differ.
- [firebase] Firebase AI Logic notice: Gemini 2.0 Flash and Flash-Lite shut down on 2026-06-01.
"""

from __future__ import annotations

from datetime import date

import msgspec

ADAPTER_SIZES = {
    1: "ADAPTER_SIZE_ONE",
    2: "ADAPTER_SIZE_TWO",
    4: "ADAPTER_SIZE_FOUR",
    8: "ADAPTER_SIZE_EIGHT",
    16: "ADAPTER_SIZE_SIXTEEN",
    32: "ADAPTER_SIZE_THIRTY_TWO",  # the TuningJob enum's largest (aiplatform v1)
}
RECOMMENDED_EXAMPLES = 100  # [tuning]: "we recommend that you start with 100 examples"
SHUTDOWN_WARNING_DAYS = 90  # warn this long before a model's announced shutdown

# [regions]: where a tuning job may run (and its tuned model is uploaded). The page's list was
# read up to "us-": of the US regions only us-central1 (Google's own examples) is listed here;
# any other is refused until the page is read in full.
TUNING_REGIONS = (
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast3",
    "asia-south1",
    "asia-southeast1",
    "australia-southeast1",
    "europe-central2",
    "europe-north1",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "southamerica-east1",
    "us-central1",
)


class GeminiModel(msgspec.Struct, frozen=True):
    """A tunable Gemini base model."""

    name: str  # the model id sent as baseModel
    adapter_sizes: tuple[int, ...] | None  # None: not read; Vertex AI checks the value
    released: date | None  # general availability; None: not read
    shutdown: date | None  # announced earliest shutdown; None: none announced
    replacement: str | None  # Google's recommended replacement
    source: str  # the source tags above
    max_tokens_per_example: int = 131_072
    max_validation_examples: int = 5_000
    max_training_examples: int = 1_000_000
    max_training_file_bytes: int = 1024**3
    note: str = ""  # what could not be read

    def days_left(self, today: date) -> int | None:
        return None if self.shutdown is None else (self.shutdown - today).days


_1_TO_16 = (1, 2, 4, 8, 16)
_1_TO_8 = (1, 2, 4, 8)
_NOT_READ = "3.5 limitations table not read: 2.5's limits assumed, adapter size left to Vertex AI"

MODELS: tuple[GeminiModel, ...] = (
    GeminiModel(
        "gemini-3.5-flash",
        adapter_sizes=None,
        released=date(2026, 5, 19),
        shutdown=None,
        replacement=None,
        source="tuning, lifecycle",
        note=_NOT_READ,
    ),
    GeminiModel(
        "gemini-3.5-flash-lite",
        adapter_sizes=None,
        released=date(2026, 7, 21),
        shutdown=None,
        replacement=None,
        source="tuning, lifecycle",
        note=_NOT_READ,
    ),
    GeminiModel(
        "gemini-3.1-flash-lite",
        adapter_sizes=None,
        released=date(2026, 5, 7),
        shutdown=date(2027, 5, 7),
        replacement="gemini-3.5-flash-lite",
        source="tuning, lifecycle",
        note="limitations table not read: 2.5's limits assumed, adapter size left to Vertex AI",
    ),
    GeminiModel(
        "gemini-2.5-pro",
        adapter_sizes=_1_TO_8,
        released=date(2025, 6, 17),
        shutdown=date(2026, 12, 1),
        replacement="gemini-3.8-flash",
        source="tuning, lifecycle",
    ),
    GeminiModel(
        "gemini-2.5-flash",
        adapter_sizes=_1_TO_16,
        released=date(2025, 6, 17),
        shutdown=date(2026, 12, 1),
        replacement="gemini-3.5-flash-lite",
        source="tuning, lifecycle",
    ),
    GeminiModel(
        "gemini-2.5-flash-lite",
        adapter_sizes=_1_TO_16,
        released=None,
        shutdown=None,
        replacement=None,
        source="tuning, lifecycle",
        note="release date not read; not deprecated",
    ),
    GeminiModel(
        "gemini-2.0-flash-001",
        adapter_sizes=_1_TO_8,
        released=None,
        shutdown=date(2026, 6, 1),
        replacement="gemini-3.1-flash-lite",
        source="tuning, firebase",
        note="release date not read",
    ),
    GeminiModel(
        "gemini-2.0-flash-lite-001",
        adapter_sizes=_1_TO_8,
        released=None,
        shutdown=date(2026, 6, 1),
        replacement="gemini-3.1-flash-lite",
        source="tuning, firebase",
        note="release date not read",
    ),
)
GEMINI_MODELS = {model.name: model for model in MODELS}

# The shipped default base model of a deployment (CODETUNE_LARGE_MODEL_REFERENCE overrides it):
# the newest generally available Flash model the tuning page lists.
DEFAULT_MODEL = "gemini-3.5-flash"


def markdown_table() -> str:
    """The documentation's table of tunable models (docs/gemini.md), from MODELS."""
    rows = [
        "| model | adapter sizes | tokens per example | validation examples | training file | released | shutdown | replacement | source | not read |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in MODELS:
        sizes = ", ".join(map(str, m.adapter_sizes)) if m.adapter_sizes else "(left to Vertex AI)"
        size = f"{m.max_training_file_bytes // 1024**3} GB, {m.max_training_examples:,} examples"
        rows.append(
            f"| `{m.name}` | {sizes} | {m.max_tokens_per_example:,} | {m.max_validation_examples:,} "
            f"| {size} | {m.released or '—'} | {m.shutdown or 'none announced'} "
            f"| {m.replacement or '—'} | {m.source} | {m.note or '—'} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m codetune.gemini.models > the table for the docs
    print(markdown_table(), end="")
