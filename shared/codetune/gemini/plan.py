"""The Vertex AI tuningJobs.create request for a Gemini base model.

A dataset whose `large_model_reference` names a Gemini model is tuned by supervised tuning
(`POST .../v1/projects/P/locations/REGION/tuningJobs`) instead of the code-bison pipeline.
Parameters that only the pipeline knows are refused, every one named; `train_steps` does not
map (Gemini counts epochs over the whole dataset): set `epoch_count`.

Tuning jobs take no client-chosen id. The request's digest goes into the label
`codetune-request`; the tune function claims it in Cloud Storage and looks for a job with that
label before creating one, so a repeated delivery finds the existing job. The label
`codetune-sweep` (the state bucket and the upload's day) is what the sweep lists a deployment's
jobs by (codetune.app.listing). Both are set after the digest is taken, so a request's digest
is what it was before the sweep's label existed, and so are the claims keyed by it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from typing import Any

import msgspec

from codetune.dataset import DatasetKind
from codetune.gemini import models, rules
from codetune.gemini.rules import GeminiInputs, retirement_warnings
from codetune.ports import JobRequest
from codetune.state.store import SYSTEM_PREFIX, default_state_bucket
from codetune.tuning import rules as shared
from codetune.tuning.common import (
    API_HOST,
    DatasetRef,
    Derived,
    display_name,
    model_display_name,
    request_digest,
    slug,
)
from codetune.tuning.parameters import GEMINI, TuningParameters
from codetune.tuning.rules import PlanRule, plan

REQUEST_LABEL = "codetune-request"
LIST_LABEL = "codetune-sweep"
_DAY_MICROSECONDS = 86_400_000_000
_MAX_TAG = 54  # a label value is at most 63 characters: the day, a hyphen, the bucket's tag


def list_label(state_bucket: str, generation: str | None) -> str | None:
    """The value of LIST_LABEL for a job of this deployment (its state bucket) on a version with
    this generation: `<upload day>-<state bucket>`, e.g. `20261201-acme-tuning-state`, so that a
    listing of one value returns the jobs of one day's uploads, never the whole history.

    The day is the generation's: Cloud Storage's generations are the time of the write in
    microseconds. Were one not, its jobs would only be listed in smaller groups (the sweep
    reads a group of one by `get`); nothing but the cost depends on it. None without a
    generation: such a job is read by `get`."""
    if generation is None or not generation.isdigit():
        return None
    days = int(generation) // _DAY_MICROSECONDS
    try:
        day = (date(1970, 1, 1) + timedelta(days=days)).strftime("%Y%m%d")
    except OverflowError:
        day = str(days)[:8]
    tag = re.sub(r"[^a-z0-9_-]", "-", state_bucket.lower())
    if len(tag) > _MAX_TAG:  # a long bucket name: its start, and a digest that tells it apart
        tag = tag[: _MAX_TAG - 17] + "-" + hashlib.sha256(state_bucket.encode()).hexdigest()[:16]
    return f"{day}-{tag}"


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


# In the order their problems are reported.
RULES: tuple[PlanRule[GeminiInputs], ...] = (
    rules.known_model,
    rules.lifecycle,
    rules.model_region,
    rules.model_cmek,
    rules.adapter_size,
    shared.dataset_and_project,
    rules.region,
    shared.refused_by(GEMINI),
    rules.epoch_count,
    shared.learning_rate,
    shared.evaluation_uri,
    shared.kms_key,
    rules.key_region,
    shared.service_account,
    rules.labels,
)


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
    inputs = GeminiInputs(
        dataset=dataset,
        kind=kind,
        examples=examples,
        parameters=p,
        state_bucket=state_bucket or default_state_bucket(dataset.bucket),
        system_prefix=system_prefix,
        model=models.GEMINI_MODELS.get(p.large_model_reference or models.DEFAULT_MODEL),
        today=today or date.today(),
    )
    return plan(inputs, RULES, build)


def build(inputs: GeminiInputs) -> TuningJobPlan:
    """The plan of inputs every rule has passed. The request's digest, over what it was made
    from, is its id and its label."""
    p, model, dataset = inputs.parameters, inputs.model, inputs.dataset
    assert model is not None and p.project and p.pipeline_region
    spec = tuning_spec(inputs)
    body = request_body(inputs, model, spec)
    digest = request_digest(
        {
            "dataset": dataset.uri,
            "generation": dataset.generation,
            "source": p.evaluation_data_uri,
            "body": body,
        }
    )
    body["labels"][REQUEST_LABEL] = digest
    listed = list_label(inputs.state_bucket, dataset.generation)
    if listed is not None:
        body["labels"][LIST_LABEL] = listed
    derived = GeminiDerived(
        base_model=model.name,
        default_context=p.default_context,  # the system instruction of examples without one
        tuning_region=p.pipeline_region,
        epochs=p.epoch_count,  # None: the service's default
        training_dataset_uri=spec["trainingDatasetUri"],
        validation_dataset_uri=spec.get("validationDatasetUri"),
        evaluation_source_uri=p.evaluation_data_uri,
    )
    warnings = retirement_warnings(model, inputs.today)
    if inputs.examples < models.RECOMMENDED_EXAMPLES:
        warnings.append(
            f"{inputs.examples} examples; Google recommends starting Gemini tuning with 100 to 500"
        )
    return TuningJobPlan(p.pipeline_region, p.project, digest, body, derived, warnings)


def tuning_spec(inputs: GeminiInputs) -> dict[str, Any]:
    """The datasets the job reads (their Gemini conversions), and the hyperparameters set."""
    p = inputs.parameters
    spec: dict[str, Any] = {"trainingDatasetUri": inputs.converted_uri("training", "gemini")}
    if p.evaluation_data_uri:
        spec["validationDatasetUri"] = inputs.converted_uri("validation", "gemini")
    hyper: dict[str, Any] = {}
    if p.epoch_count is not None:
        hyper["epochCount"] = str(p.epoch_count)  # int64: a string in JSON
    if p.learning_rate_multiplier is not None:
        hyper["learningRateMultiplier"] = p.learning_rate_multiplier
    if p.adapter_size is not None:
        hyper["adapterSize"] = models.ADAPTER_SIZES[p.adapter_size]
    if hyper:
        spec["hyperParameters"] = hyper
    return spec


def request_body(
    inputs: GeminiInputs, model: models.GeminiModel, spec: dict[str, Any]
) -> dict[str, Any]:
    """The request but for its digest's label."""
    p, dataset = inputs.parameters, inputs.dataset
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
        "tunedModelDisplayName": p.model_display_name or model_display_name(dataset, model.name),
        "description": p.display_name or display_name(dataset),
        "labels": labels,
    }
    if p.service_account:
        body["serviceAccount"] = p.service_account
    if p.encryption_spec_key_name:
        body["encryptionSpec"] = {"kmsKeyName": p.encryption_spec_key_name}
    return body
