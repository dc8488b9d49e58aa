"""The Vertex AI tuningJobs.create request for a Gemini base model.

A dataset whose `large_model_reference` names a Gemini model is tuned by supervised tuning
(`POST .../v1/projects/P/locations/REGION/tuningJobs`) instead of the code-bison pipeline.
Parameters that only the pipeline knows are refused, every one named; `train_steps` does not
map (Gemini counts epochs over the whole dataset): set `epoch_count`.

Tuning jobs take no client-chosen id. The request's digest goes into the label
`codetune-request`; the tune function claims it in Cloud Storage and looks for a job with that
label before creating one, so a repeated delivery finds the existing job.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from codetune.dataset import DatasetKind
from codetune.exceptions import PlanRejected
from codetune.gemini import models
from codetune.ports import JobRequest
from codetune.state.store import SYSTEM_PREFIX, converted_uri, default_state_bucket
from codetune.tuning.common import (
    API_HOST,
    GCS_OBJECT_URI,
    KMS_KEY,
    MAX_DISPLAY_NAME,
    SERVICE_ACCOUNT,
    DatasetRef,
    Derived,
    request_digest,
    slug,
)
from codetune.tuning.parameters import GEMINI, Problem, TuningParameters, refused
from codetune.tuning.rules import PlanInputs, dataset_and_project, names_and_labels

REQUEST_LABEL = "codetune-request"
OWN_LABELS = 4


class GeminiDerived(Derived, frozen=True, kw_only=True):
    """What a Gemini plan derives: the shared fields, and where the job reads its datasets."""

    training_dataset_uri: str  # the converted copy the job reads
    validation_dataset_uri: str | None = None
    evaluation_source_uri: str | None = None  # the evaluation dataset the user named

    def to_dict(self) -> dict[str, Any]:
        # The order Gemini plans' records have always had.
        return {
            "template": self.template,
            "tuning_region": self.tuning_region,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "base_model": self.base_model,
            "training_dataset_uri": self.training_dataset_uri,
            "validation_dataset_uri": self.validation_dataset_uri,
            "evaluation_source_uri": self.evaluation_source_uri,
            "default_context": self.default_context,
        }


class TuningJobPlan(msgspec.Struct, frozen=True):
    region: str
    project: str
    request_id: str
    body: dict[str, Any]
    derived: GeminiDerived
    warnings: list[str] = msgspec.field(default_factory=list)
    method: str = "POST"

    @property
    def path(self) -> str:
        return f"/v1/projects/{self.project}/locations/{self.region}/tuningJobs"

    @property
    def url(self) -> str:
        return f"https://{API_HOST.format(region=self.region)}{self.path}"

    @property
    def request(self) -> JobRequest:
        return JobRequest(self.region, self.path, self.body)

    backend = "gemini"

    @property
    def base_model(self) -> str:
        return str(self.body["baseModel"])

    @property
    def evaluation_source(self) -> str | None:
        """The evaluation dataset the user named (gs://...), which must have been validated."""
        return self.derived.evaluation_source_uri

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "body": self.body,
            "derived": self.derived.to_dict(),
            "warnings": list(self.warnings),
        }


def lifecycle(model: models.GeminiModel, today: date, warnings: list[str]) -> list[Problem]:
    """A model past its announced retirement on Vertex AI is refused; one within
    RETIREMENT_WARNING_DAYS of it gets a warning naming Google's replacement."""
    left = model.days_left(today)
    if left is None or left > models.RETIREMENT_WARNING_DAYS:
        return []
    instead = f"; Google names {model.replacement} in its place" if model.replacement else ""
    if left <= 0:
        return [
            Problem(
                "large_model_reference",
                "lifecycle",
                f"{model.name} was retired on Vertex AI on {model.retirement}{instead}",
            )
        ]
    warnings.append(
        f"{model.name} retires on Vertex AI on {model.retirement} ({left} days){instead}"
    )
    return []


def model_problems(model: models.GeminiModel, p: TuningParameters) -> list[Problem]:
    """What the model's own table refuses: a region it does not tune in, a CMEK key where it
    takes none, an adapter size it does not take."""
    found = []
    if p.pipeline_region and p.pipeline_region not in model.regions:
        found.append(
            Problem(
                "pipeline_region",
                "gemini",
                f"{model.name} tunes only in {', '.join(model.regions)}, not {p.pipeline_region}",
            )
        )
    if p.encryption_spec_key_name and not model.cmek:
        found.append(
            Problem(
                "encryption_spec_key_name",
                "gemini",
                f"{model.name} tuning does not support customer-managed keys (CMEK)",
            )
        )
    if p.adapter_size is not None and p.adapter_size not in model.adapter_sizes:
        found.append(
            Problem(
                "adapter_size",
                "gemini",
                f"{model.name} takes adapter sizes {', '.join(map(str, model.adapter_sizes))}",
            )
        )
    return found


def plan_tuning_job(
    dataset: DatasetRef,
    kind: DatasetKind,
    examples: int,
    p: TuningParameters,
    system_prefix: str = SYSTEM_PREFIX,
    today: date | None = None,
    state_bucket: str | None = None,
) -> TuningJobPlan:
    """The tuningJobs.create request; PlanRejected lists every problem. `today` decides the
    model's lifecycle (a model past its retirement is refused, one near it warned about)."""
    model = models.GEMINI_MODELS.get(p.large_model_reference or models.DEFAULT_MODEL)
    problems: list[Problem] = []
    warnings: list[str] = []
    fail = problems.append
    if model is None:
        fail(
            Problem(
                "large_model_reference",
                "S-21",
                f"not a tunable Gemini model; use one of {', '.join(models.GEMINI_MODELS)}",
            )
        )
    else:
        problems += lifecycle(model, today or date.today(), warnings)
        problems += model_problems(model, p)
    asked = PlanInputs(
        dataset=dataset,
        kind=kind,
        examples=examples,
        parameters=p,
        state_bucket=state_bucket or default_state_bucket(dataset.bucket),
        system_prefix=system_prefix,
    )
    problems += dataset_and_project(asked)
    if not p.pipeline_region:
        fail(Problem("pipeline_region", "required", "the tuning job's region is required"))
    elif model is None and p.pipeline_region not in models.TUNING_REGIONS:
        fail(
            Problem(
                "pipeline_region",
                "gemini",
                f"Gemini tuning does not run in {p.pipeline_region}; use one of "
                + ", ".join(models.TUNING_REGIONS),
            )
        )
    problems += refused(p, GEMINI)
    if p.epoch_count is not None and not 1 <= p.epoch_count <= 100:
        fail(Problem("epoch_count", "range", "1 to 100 epochs"))
    if p.learning_rate_multiplier is not None and p.learning_rate_multiplier <= 0:
        fail(Problem("learning_rate_multiplier", "S-16", "must be greater than 0"))
    if p.evaluation_data_uri is not None and not GCS_OBJECT_URI.fullmatch(p.evaluation_data_uri):
        fail(Problem("evaluation_data_uri", "S-10", "must be a gs://bucket/object URI"))
    if p.encryption_spec_key_name is not None:
        key = KMS_KEY.fullmatch(p.encryption_spec_key_name)
        if key is None:
            fail(
                Problem(
                    "encryption_spec_key_name",
                    "format",
                    "must be projects/P/locations/L/keyRings/R/cryptoKeys/K",
                )
            )
        elif p.pipeline_region and key["location"] != p.pipeline_region:
            fail(
                Problem(
                    "encryption_spec_key_name",
                    "gemini",
                    f"the key must be in the job's region, {p.pipeline_region}",
                )
            )
    if p.service_account and not SERVICE_ACCOUNT.fullmatch(p.service_account):
        fail(Problem("service_account", "format", "must be a service account email"))
    # codetune's own: dataset, base model, generation and the request digest.
    problems += names_and_labels(p, OWN_LABELS)
    if problems:
        raise PlanRejected(problems)
    assert model is not None and p.project and p.pipeline_region

    name = slug(dataset.name.rpartition("/")[2].removesuffix(".jsonl"), 40) or "dataset"
    state = state_bucket or default_state_bucket(dataset.bucket)  # what the job reads
    spec: dict[str, Any] = {
        "trainingDatasetUri": converted_uri(
            state, system_prefix, dataset.name, dataset.generation, "training"
        )
    }
    if p.evaluation_data_uri:
        spec["validationDatasetUri"] = converted_uri(
            state, system_prefix, dataset.name, dataset.generation, "validation"
        )
    hyper: dict[str, Any] = {}
    if p.epoch_count is not None:
        hyper["epochCount"] = str(p.epoch_count)  # int64: a string in JSON
    if p.learning_rate_multiplier is not None:
        hyper["learningRateMultiplier"] = p.learning_rate_multiplier
    if p.adapter_size is not None:
        hyper["adapterSize"] = models.ADAPTER_SIZES[p.adapter_size]
    if hyper:
        spec["hyperParameters"] = hyper
    labels = {
        **p.labels,
        "codetune-dataset": slug(dataset.name, 63) or "dataset",
        "codetune-base-model": slug(model.name, 63),
    }
    if dataset.generation:
        labels["codetune-generation"] = dataset.generation[:63]
    body: dict[str, Any] = {
        "baseModel": model.name,
        "supervisedTuningSpec": spec,
        "tunedModelDisplayName": p.model_display_name
        or f"{name} ({model.name})"[:MAX_DISPLAY_NAME],
        "description": p.display_name or f"codetune {name}",
        "labels": labels,
    }
    if p.service_account:
        body["serviceAccount"] = p.service_account
    if p.encryption_spec_key_name:
        body["encryptionSpec"] = {"kmsKeyName": p.encryption_spec_key_name}
    digest = request_digest(
        {
            "dataset": dataset.uri,
            "generation": dataset.generation,
            "source": p.evaluation_data_uri,
            "body": body,
        }
    )
    body["labels"][REQUEST_LABEL] = digest
    if examples < models.RECOMMENDED_EXAMPLES:
        warnings.append(
            f"{examples} examples; Google recommends starting Gemini tuning with 100 to 500"
        )
    derived = GeminiDerived(
        base_model=model.name,
        default_context=p.default_context,  # the system instruction of examples without one
        tuning_region=p.pipeline_region,
        epochs=p.epoch_count,  # None: the service's default
        training_dataset_uri=spec["trainingDatasetUri"],
        validation_dataset_uri=spec.get("validationDatasetUri"),
        evaluation_source_uri=p.evaluation_data_uri,
    )
    return TuningJobPlan(p.pipeline_region, p.project, digest, body, derived, warnings)
