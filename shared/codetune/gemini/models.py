"""The Gemini base models that supervised tuning accepts on Vertex AI: limits, regions, CMEK
and lifecycle, one row per model, each citing where it was read and when.

Sources (each read 2026-12-03 unless the row says otherwise):
- [sft] "About supervised fine-tuning for Gemini models", the per-model tables
  (docs.cloud.google.com/gemini-enterprise-agent-platform/models/tuning/supervised-tuning,
  "Last updated 2026-09-25"): the tunable models; for 3.5 Flash, 3.5 Flash-Lite, 3.1 Flash-Lite
  and 2.5 Flash / Flash-Lite: 131,072 input+output tokens per training example, a validation
  dataset of at most 5,000 examples (or 30% of the training examples past 1,000), 1 GB of JSONL
  and 10M text examples, adapter sizes 1, 2, 4, 8, 16 (2.5 Pro: 1-8); 3.x models tune only in
  us-central1 and europe-west4, and without CMEK.
- [api] the tuning API reference (.../reference/models/tuning): 3.5 Flash-Lite listed.
- [versions] the Vertex AI model versions page (.../models/model-versions, a mid-October 2026
  copy): release and retirement dates on Vertex AI and Google's named replacements. Google:
  "Retirement timelines may be extended, they won't be moved to an earlier date." The Gemini
  Developer API keeps its own schedule and has no tuning: its dates do not apply here.
- [regions] "Supervised fine-tuning region settings" (read 2026-11): the regions of the 2.x
  models.
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
RECOMMENDED_EXAMPLES = 100  # [sft]: "we recommend that you start with 100 examples"
RETIREMENT_WARNING_DAYS = 90  # warn this long before a model's announced retirement
# [sft]: a validation dataset past this many examples may hold at most this share of the
# training examples.
VALIDATION_SHARE_FROM = 1_000
VALIDATION_SHARE = 0.30

# [regions]: where a 2.x tuning job may run (and its tuned model is uploaded).
REGIONS_2X = (
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
REGIONS_3X = ("us-central1", "europe-west4")  # [sft]: the 3.x tables
TUNING_REGIONS = tuple(dict.fromkeys((*REGIONS_3X, *REGIONS_2X)))


class GeminiModel(msgspec.Struct, frozen=True):
    """A Gemini base model supervised tuning accepts (or accepted) on Vertex AI."""

    name: str  # the model id sent as baseModel
    released: date | None  # general availability on Vertex AI; None: not read
    retirement: date | None  # announced retirement on Vertex AI (earliest); None: none
    replacement: str | None  # the model Google names in its place
    source: str  # the source tags above
    regions: tuple[str, ...] = REGIONS_3X
    cmek: bool = False  # whether the job takes encryptionSpec.kmsKeyName
    adapter_sizes: tuple[int, ...] = (1, 2, 4, 8, 16)
    max_tokens_per_example: int = 131_072
    max_validation_examples: int = 5_000
    max_training_examples: int = 10_000_000  # text-only examples
    max_training_file_bytes: int = 1024**3
    note: str = ""  # what could not be read

    def days_left(self, today: date) -> int | None:
        return None if self.retirement is None else (self.retirement - today).days


MODELS: tuple[GeminiModel, ...] = (
    GeminiModel(
        "gemini-3.5-flash",
        released=date(2026, 5, 19),
        retirement=date(2027, 5, 19),  # "2027-05-19 or later"
        replacement=None,
        source="sft, versions",
    ),
    GeminiModel(
        "gemini-3.5-flash-lite",
        released=date(2026, 7, 21),
        retirement=None,
        replacement=None,
        source="sft, api, versions",
        note="retirement date not read",
    ),
    GeminiModel(
        "gemini-3.1-flash-lite",
        released=date(2026, 5, 7),
        retirement=date(2027, 5, 7),  # "2027-05-07 or later"
        replacement=None,
        source="sft, versions",
    ),
    GeminiModel(
        "gemini-2.5-pro",
        released=date(2025, 6, 17),
        retirement=date(2026, 10, 20),
        replacement="gemini-3.8-flash",  # Google's name; not itself tunable
        source="sft, versions, regions",
        adapter_sizes=(1, 2, 4, 8),
        regions=REGIONS_2X,
        cmek=True,
    ),
    GeminiModel(
        "gemini-2.5-flash",
        released=date(2025, 6, 17),
        retirement=date(2026, 10, 20),
        replacement="gemini-3.5-flash",
        source="sft, versions, regions",
        regions=REGIONS_2X,
        cmek=True,
    ),
    GeminiModel(
        "gemini-2.5-flash-lite",
        released=None,
        retirement=date(2026, 10, 20),
        replacement="gemini-3.5-flash-lite",
        source="sft, versions, regions",
        note="release date not read",
        regions=REGIONS_2X,
        cmek=True,
    ),
    GeminiModel(
        "gemini-2.0-flash-001",
        released=None,
        retirement=date(2026, 6, 1),
        replacement="gemini-3.1-flash-lite",
        source="versions, regions",
        adapter_sizes=(1, 2, 4, 8),
        note="release date not read",
        regions=REGIONS_2X,
        cmek=True,
    ),
    GeminiModel(
        "gemini-2.0-flash-lite-001",
        released=None,
        retirement=date(2026, 6, 1),
        replacement="gemini-3.1-flash-lite",
        source="versions, regions",
        adapter_sizes=(1, 2, 4, 8),
        note="release date not read",
        regions=REGIONS_2X,
        cmek=True,
    ),
)
GEMINI_MODELS = {model.name: model for model in MODELS}

# The shipped default base model of a deployment (CODETUNE_LARGE_MODEL_REFERENCE overrides it):
# the newest generally available Flash model the tuning page lists.
DEFAULT_MODEL = "gemini-3.5-flash"


def markdown_table() -> str:
    """The documentation's table of tunable models (docs/gemini.md), from MODELS."""
    rows = [
        "| model | regions | CMEK | adapter sizes | tokens per example | validation examples | training file | released | retirement on Vertex AI | replacement | source | not read |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in MODELS:
        regions = ", ".join(m.regions) if m.regions == REGIONS_3X else f"{len(m.regions)} regions"
        size = f"{m.max_training_file_bytes // 1024**3} GB, {m.max_training_examples:,} examples"
        rows.append(
            f"| `{m.name}` | {regions} | {'yes' if m.cmek else 'no'} "
            f"| {', '.join(map(str, m.adapter_sizes))} | {m.max_tokens_per_example:,} "
            f"| {m.max_validation_examples:,} (30% of training past {VALIDATION_SHARE_FROM:,}) "
            f"| {size} | {m.released or '—'} | {m.retirement or 'none announced'} "
            f"| {m.replacement or '—'} | {m.source} | {m.note or '—'} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m codetune.gemini.models > the table for the docs
    print(markdown_table(), end="")
