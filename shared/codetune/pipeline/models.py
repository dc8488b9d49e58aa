"""The tables behind a legacy pipeline job: regions, accelerators, base models, templates
(S-11..S-21). Imports nothing of tuning: the shared parameter table reads it."""

from __future__ import annotations

import msgspec

from codetune.dataset import DatasetKind

# S-11: where the tuning pipeline runs, and where a tuned model may be uploaded (S-12).
PIPELINE_REGIONS = (
    "us-central1",
    "europe-west4",
    "asia-southeast1",
    "us-west1",
    "europe-west3",
    "europe-west2",
    "asia-northeast1",
    "us-east4",
    "us-west4",
    "northamerica-northeast1",
    "europe-west9",
    "europe-west1",
    "asia-northeast3",
)

# S-13: the accelerator decides where the tuning itself runs.
TUNING_REGION_OF_ACCELERATOR = {"GPU": "us-central1", "TPU": "europe-west4"}
DEFAULT_ACCELERATOR = "GPU"

# S-14: customer-managed encryption keys only with GPU, tuning and upload in us-central1.
CMEK_ACCELERATOR = "GPU"
CMEK_REGION = "us-central1"

# S-21: the tuning pipeline templates.
TEMPLATES = {
    DatasetKind.GENERATION: "https://us-kfp.pkg.dev/ml-pipeline/large-language-model-pipelines/tune-large-model/v3.0.0",
    DatasetKind.CHAT: "https://us-kfp.pkg.dev/ml-pipeline/large-language-model-pipelines/tune-large-chat-model/v3.0.0",
}

# The Vertex AI SDK's list_tuned_model_names: tuned models carry this label, whose value is the
# base model with "@" turned into "-".
BASE_MODEL_LABEL = "google-vertex-llm-tuning-base-model-id"


class BaseModel(msgspec.Struct, frozen=True):
    """A code model that can be tuned, and what follows from choosing it."""

    name: str
    kind: DatasetKind
    context: str  # "8k" or "32k": the max_context_length the model takes
    batch_sizes: dict[str, int]  # S-15: by accelerator

    @property
    def template(self) -> str:
        return TEMPLATES[self.kind]

    @property
    def label_value(self) -> str:
        return self.name.replace("@", "-")


_BATCH_8K = {"GPU": 8, "TPU": 24}  # S-15: 8 in us-central1 (GPU), 24 in europe-west4 (TPU)
_BATCH_32K = {"GPU": 8, "TPU": 8}  # S-15: 8 in both

# S-21: the base models of the code tuning pipelines. The -32k models are named with and
# without their version, as Google's pages name them both ways.
BASE_MODELS = {
    model.name: model
    for model in (
        BaseModel("code-bison@002", DatasetKind.GENERATION, "8k", _BATCH_8K),
        BaseModel("code-bison-32k@002", DatasetKind.GENERATION, "32k", _BATCH_32K),
        BaseModel("code-bison-32k", DatasetKind.GENERATION, "32k", _BATCH_32K),
        BaseModel("codechat-bison@002", DatasetKind.CHAT, "8k", _BATCH_8K),
        BaseModel("codechat-bison-32k@002", DatasetKind.CHAT, "32k", _BATCH_32K),
        BaseModel("codechat-bison-32k", DatasetKind.CHAT, "32k", _BATCH_32K),
    )
}
DEFAULT_BASE_MODEL = {
    DatasetKind.GENERATION: "code-bison@002",
    DatasetKind.CHAT: "codechat-bison@002",
}

# Google blocked new code-bison / codechat-bison tuning jobs on
# 2024-10-09 and shut the models down on 2025-04-09. The pipeline stays as the legacy backend.
LEGACY_WARNING = (
    "{model} is a legacy code model: Vertex AI refuses new tuning jobs for it since 2024-10-09 "
    "(shut down 2025-04-09); tune a Gemini model instead (the default)"
)

# S-15..S-17: what the templates do when a parameter is not sent (the templates' own defaults, as the SDK's tune_model documents them).
DEFAULT_TRAIN_STEPS = 300
RECOMMENDED_TRAIN_STEPS = (200, 1_000)  # S-15, for datasets of 500 examples or more
CHECKPOINT_SELECTION_VALUES = ("true", "false", "default")
