"""What both kinds of tuning job share: the dataset version, what a plan derives, Google's name
and label rules, and the checks of the dataset, project and names that apply to every backend.
Pure."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec
import orjson

from codetune.dataset.keys import shown_key
from codetune.tuning.parameters import Problem, TuningParameters

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


def dataset_and_project_problems(
    dataset: DatasetRef, examples: int, p: TuningParameters
) -> list[Problem]:
    """The dataset version, its size and the project: the same rules for both kinds of job."""
    problems = []
    if not GCS_OBJECT_URI.fullmatch(dataset.uri):
        problems.append(
            Problem("dataset_uri", "S-10", "the dataset must be a gs://bucket/object URI")
        )
    if dataset.generation is not None and not dataset.generation.isdigit():
        problems.append(Problem("dataset_uri", "format", "the generation after # must be a number"))
    if examples < 1:
        problems.append(
            Problem("examples", "range", "the dataset's number of examples must be at least 1")
        )
    if not p.project:
        problems.append(Problem("project", "required", "the Google Cloud project is required"))
    elif not PROJECT_ID.fullmatch(p.project):
        problems.append(
            Problem(
                "project", "format", "a project ID is 6-30 lowercase letters, digits or hyphens"
            )
        )
    return problems


def name_and_label_problems(p: TuningParameters, own_labels: int) -> list[Problem]:
    """S-20's display name lengths and the label rules, shared by both kinds of job."""
    problems = []
    for name in ("display_name", "model_display_name"):
        value = getattr(p, name)
        if value is not None and len(value) > MAX_DISPLAY_NAME:
            problems.append(
                Problem(name, "S-20", f"{len(value)} characters; at most {MAX_DISPLAY_NAME}")
            )
    for key, value in p.labels.items():
        if key.startswith(OWN_LABEL_PREFIX):
            problems.append(
                Problem(
                    "labels",
                    "labels",
                    f"{shown_key(key)}: labels starting {OWN_LABEL_PREFIX} are the system's own",
                )
            )
        elif not LABEL_KEY.fullmatch(key):
            problems.append(
                Problem(
                    "labels",
                    "labels",
                    f"{shown_key(key)!r}: keys are 1-63 lowercase letters, digits, _ or -, starting with a letter",
                )
            )
        elif not LABEL_VALUE.fullmatch(value):
            problems.append(
                Problem(
                    "labels",
                    "labels",
                    f"{shown_key(key)}: values are up to 63 lowercase letters, digits, _ or -",
                )
            )
    if len(p.labels) + own_labels > MAX_LABELS:
        problems.append(Problem("labels", "labels", f"at most {MAX_LABELS - own_labels} labels"))
    return problems


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


def slug(text: str, limit: int) -> str:
    """Lowercase letters, digits and single hyphens, at most `limit` characters."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")
