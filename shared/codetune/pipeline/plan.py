"""From a validated dataset and its parameters to the exact Vertex AI pipelineJobs.create request.

`plan_pipeline_job` runs every rule first and reports every violation at once (S-6,
S-11..S-21, types and ranges); only a plan without problems has a request. It does no I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.pipeline import models, rules
from codetune.pipeline.rules import PipelineInputs, own_labels
from codetune.ports import JobRequest
from codetune.state.store import SYSTEM_PREFIX, default_state_bucket
from codetune.tuning import rules as shared
from codetune.tuning.common import (
    API_HOST,
    DatasetRef,
    Derived,
    display_name,
    job_id,
    model_display_name,
)
from codetune.tuning.parameters import PIPELINE, TuningParameters
from codetune.tuning.rules import PlanRule, plan


class PipelineJobPlan(msgspec.Struct, frozen=True):
    """The request that creates the tuning job, and what was derived on the way."""

    region: str
    project: str
    job_id: str
    body: dict[str, Any]
    derived: Derived
    warnings: list[str] = msgspec.field(default_factory=list)
    method: str = "POST"
    # The evaluation dataset the user named (gs://...), which must have been validated; the
    # job reads its pinned copy (parameterValues.evaluation_data_uri).
    evaluation_source: str | None = None

    @property
    def path(self) -> str:
        return f"/v1/projects/{self.project}/locations/{self.region}/pipelineJobs"

    @property
    def request(self) -> JobRequest:
        return JobRequest(self.region, self.path, self.body, self.job_id)

    @property
    def url(self) -> str:
        return (
            f"https://{API_HOST.format(region=self.region)}{self.path}?pipelineJobId={self.job_id}"
        )

    backend = "pipeline"

    @property
    def base_model(self) -> str:
        return self.derived.base_model

    @property
    def job_name(self) -> str:
        """The job's resource name once created."""
        return f"projects/{self.project}/locations/{self.region}/pipelineJobs/{self.job_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "body": self.body,
            "derived": self.derived.to_dict(),
            "warnings": list(self.warnings),
        }


# In the order their problems are reported.
RULES: tuple[PlanRule[PipelineInputs], ...] = (
    shared.dataset_and_project,
    rules.output_dir,
    shared.service_account,
    rules.regions,
    rules.base_model,
    rules.context_length,
    rules.train_steps,
    shared.learning_rate,
    shared.evaluation_uri,
    rules.evaluation,
    rules.tensorboard,
    shared.kms_key,
    rules.encryption,
    rules.chat_only,
    rules.labels,
    shared.refused_by(PIPELINE),
)


def plan_pipeline_job(
    dataset: DatasetRef,
    kind: DatasetKind,
    examples: int,
    parameters: TuningParameters,
    format: DatasetFormat = DatasetFormat.SEED,
    system_prefix: str = SYSTEM_PREFIX,
    state_bucket: str | None = None,
) -> PipelineJobPlan:
    """The pipelineJobs.create request for tuning on `dataset`; PlanRejected lists every problem.

    The job reads the validated version's pinned copy (or, for a dataset in another format
    than the seed's, its seed conversion), and the evaluation dataset's copy beside it, both
    written before it is submitted in the state bucket: a later upload never changes what it
    reads."""
    model = parameters.large_model_reference or models.DEFAULT_BASE_MODEL[kind]
    inputs = PipelineInputs(
        dataset=dataset,
        kind=kind,
        examples=examples,
        parameters=parameters,
        state_bucket=state_bucket or default_state_bucket(dataset.bucket),
        system_prefix=system_prefix,
        format=format,
        base=models.BASE_MODELS.get(model),
        accelerator=parameters.accelerator_type or models.DEFAULT_ACCELERATOR,
    )
    return plan(inputs, RULES, build)


def build(inputs: PipelineInputs) -> PipelineJobPlan:
    """The plan of inputs every rule has passed."""
    p, base = inputs.parameters, inputs.base
    assert base is not None and p.project and p.pipeline_region and p.output_dir
    train_steps = p.train_steps or models.DEFAULT_TRAIN_STEPS
    batch_size = base.batch_sizes[inputs.accelerator]
    epochs = round(train_steps * batch_size / inputs.examples, 2)
    body = request_body(inputs, base, train_steps)
    return PipelineJobPlan(
        region=p.pipeline_region,
        project=p.project,
        job_id=job_id(inputs.dataset, body),
        body=body,
        derived=Derived(
            base_model=base.name,
            default_context=p.default_context,  # given to chat examples without one (S-19)
            template=base.template,
            tuning_region=models.TUNING_REGION_OF_ACCELERATOR[inputs.accelerator],
            batch_size=batch_size,
            epochs=epochs,
        ),
        warnings=warnings(inputs, base, train_steps, batch_size, epochs),
        evaluation_source=p.evaluation_data_uri,
    )


def request_body(
    inputs: PipelineInputs, base: models.BaseModel, train_steps: int
) -> dict[str, Any]:
    p, dataset = inputs.parameters, inputs.dataset
    body: dict[str, Any] = {
        "displayName": p.display_name or display_name(dataset),
        "templateUri": base.template,
        "runtimeConfig": {
            "gcsOutputDirectory": p.output_dir,
            "parameterValues": parameter_values(inputs, base, train_steps),
        },
        "labels": {**p.labels, **own_labels(inputs)},
    }
    if p.service_account:
        body["serviceAccount"] = p.service_account
    if p.encryption_spec_key_name:
        body["encryptionSpec"] = {"kmsKeyName": p.encryption_spec_key_name}
    return body


def parameter_values(
    inputs: PipelineInputs, base: models.BaseModel, train_steps: int
) -> dict[str, Any]:
    """The template's parameters: those it needs, then those set. The job reads copies: the
    pinned one (for another format than the seed's, its seed conversion), and the evaluation
    dataset's conversion."""
    p = inputs.parameters
    seed = inputs.format is DatasetFormat.SEED
    training = inputs.pinned_uri if seed else inputs.converted_uri("training", "seed")
    evaluation = inputs.converted_uri("validation", "seed") if p.evaluation_data_uri else None
    values: dict[str, Any] = {
        "project": p.project,
        "location": p.location or p.pipeline_region,
        "large_model_reference": base.name,
        "model_display_name": p.model_display_name or model_display_name(inputs.dataset, base.name),
        "dataset_uri": training,
        "train_steps": train_steps,
        "learning_rate_multiplier": p.learning_rate_multiplier or 1.0,
        "accelerator_type": inputs.accelerator,
    }
    optional = {
        "evaluation_data_uri": evaluation,
        "evaluation_interval": p.evaluation_interval,
        "enable_early_stopping": p.enable_early_stopping,
        "enable_checkpoint_selection": p.enable_checkpoint_selection,
        "tensorboard_resource_id": p.tensorboard_resource_id,
        "default_context": p.default_context,
        "encryption_spec_key_name": p.encryption_spec_key_name,
        "max_context_length": p.max_context_length,
    }
    return values | {k: v for k, v in optional.items() if v is not None}


def warnings(
    inputs: PipelineInputs, base: models.BaseModel, train_steps: int, batch_size: int, epochs: float
) -> list[str]:
    """The legacy model's, and S-15's: under an epoch, or steps off the recommended range."""
    found = [models.LEGACY_WARNING.format(model=base.name)]
    if epochs < 1:
        found.append(
            f"S-15: {train_steps} steps x batch {batch_size} over {inputs.examples:,} examples is "
            f"{epochs} epochs: the model will not see every example; raise train_steps"
        )
    low, high = models.RECOMMENDED_TRAIN_STEPS
    if inputs.examples >= 500 and not low <= train_steps <= high:
        found.append(f"S-15: {low} to {high:,} steps are recommended for 500+ examples")
    return found
