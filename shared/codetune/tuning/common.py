"""What both kinds of tuning job share: the dataset version, what a plan derives, Google's
patterns for names and labels, the job's id and default names. Pure.

The rules every backend checks are in tuning/rules.py."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec
import orjson

API_HOST = "{region}-aiplatform.googleapis.com"
JOB_ID_PREFIX = "codetune"
# Every pattern is matched whole (`fullmatch`): `$` also matches before a final newline, so a
# `$`-anchored `match` let "team\n" pass; and no segment of a resource name holds white space.
# pipelineJobId: what the Vertex AI SDK checks, `^[a-z][-a-z0-9]{0,127}$`; `\A`..`\Z` so that
# `match` (the local Vertex AI stand-in's) is whole too.
JOB_ID_PATTERN = re.compile(r"\A[a-z][-a-z0-9]{0,127}\Z")
MAX_DISPLAY_NAME = 128  # S-20 (PipelineJob.displayName; the Model's displayName has the same limit)
# Vertex AI's labels (PipelineJob, TuningJob): keys and values up to 64 characters of lowercase
# letters, digits, _ and -; keys start with a letter. At most 64 labels on a resource.
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
MAX_LABELS = 64
OWN_LABEL_PREFIX = "codetune-"

PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?")
GCS_OBJECT_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/.+")
TENSORBOARD = re.compile(r"projects/[^/\s]+/locations/(?P<location>[^/\s]+)/tensorboards/[^/\s]+")
KMS_KEY = re.compile(
    r"projects/[^/\s]+/locations/(?P<location>[^/\s]+)/keyRings/[^/\s]+/cryptoKeys/[^/\s]+"
)
SERVICE_ACCOUNT = re.compile(r"[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com|[^@\s]+@[^@\s]+")


class Derived(msgspec.Struct, frozen=True, kw_only=True):
    """What a plan derives from its parameters, whatever its backend (the budget and `codetune
    plan` read it). The fields are in the order its records show them."""

    base_model: str
    default_context: str | None = None  # given to examples without a context
    template: str | None = None  # the pipeline template; None: no pipeline
    tuning_region: str  # where the tuning itself runs
    batch_size: int | None = None  # None: the service's own
    epochs: float | None  # None: the service's default, unknown before the job

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


class DatasetRef(msgspec.Struct, frozen=True):
    """One version of a dataset object: `gs://bucket/name`, and its generation if known."""

    uri: str
    generation: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """`gs://bucket/name` or `gs://bucket/name#generation` (as gcloud writes versions)."""
        uri, _, generation = text.partition("#")
        return cls(uri, generation or None)

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("gs://").partition("/")[0]

    @property
    def name(self) -> str:
        return self.uri.removeprefix("gs://").partition("/")[2]


def request_digest(document: dict[str, Any]) -> str:
    """24 hex digits of SHA-256 over a request and what it was made from: the same inputs, the
    same digest, in every delivery."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def job_id(dataset: DatasetRef, body: dict[str, Any]) -> str:
    """The same id for the same dataset version and request, so a repeat is refused as a duplicate.

    `codetune-<dataset name>-<24 hex digits of SHA-256 over the dataset version and the body>`.
    """
    digest = request_digest(
        {"dataset": dataset.uri, "generation": dataset.generation, "body": body}
    )
    name = slug(dataset.name.rpartition("/")[2].removesuffix(".jsonl"), 60)
    identifier = f"{JOB_ID_PREFIX}-{name}-{digest}" if name else f"{JOB_ID_PREFIX}-{digest}"
    assert JOB_ID_PATTERN.fullmatch(identifier), identifier
    return identifier


def display_name(dataset: DatasetRef) -> str:
    """The job's name when the user gives none (S-20)."""
    return f"codetune {_stem(dataset)}"[:MAX_DISPLAY_NAME]


def model_display_name(dataset: DatasetRef, base_model: str) -> str:
    """The tuned model's name when the user gives none (S-20)."""
    return f"{_stem(dataset)} ({base_model})"[:MAX_DISPLAY_NAME]


def _stem(dataset: DatasetRef) -> str:
    return slug(dataset.name.rpartition("/")[2].removesuffix(".jsonl"), 40) or "dataset"


def slug(text: str, limit: int) -> str:
    """Lowercase letters, digits and single hyphens, at most `limit` characters."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")
