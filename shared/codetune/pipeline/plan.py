"""From a validated dataset and its parameters to the exact Vertex AI pipelineJobs.create request.

`plan_pipeline_job` checks every rule first and reports every violation at once (S-6,
S-11..S-21, types and ranges); only a plan without problems has a request. It does no I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.exceptions import PlanRejected
from codetune.pipeline import models
from codetune.ports import JobRequest
from codetune.state.store import (
    SYSTEM_PREFIX,
    converted_uri,
    default_state_bucket,
    pinned_uri,
)
from codetune.tuning.common import (
    API_HOST,
    GCS_OBJECT_URI,
    GCS_URI,
    KMS_KEY,
    MAX_DISPLAY_NAME,
    SERVICE_ACCOUNT,
    TENSORBOARD,
    DatasetRef,
    Derived,
    dataset_and_project_problems,
    job_id,
    name_and_label_problems,
    slug,
)
from codetune.tuning.parameters import PIPELINE, Problem, TuningParameters, refused


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
    state = state_bucket or default_state_bucket(dataset.bucket)
    if format is DatasetFormat.SEED:
        uri = pinned_uri(state, system_prefix, dataset.name, dataset.generation)
    else:
        uri = converted_uri(
            state, system_prefix, dataset.name, dataset.generation, "training", "seed"
        )
    evaluation = converted_uri(
        state, system_prefix, dataset.name, dataset.generation, "validation", "seed"
    )
    check = _Checks(dataset, kind, examples, parameters, DatasetRef(uri), evaluation)
    check.all()
    if check.problems:
        raise PlanRejected(check.problems)
    return check.plan()


class _Checks:
    """The rules, each adding Problems; then the plan, built only when there are none."""

    def __init__(
        self,
        dataset: DatasetRef,
        kind: DatasetKind,
        examples: int,
        parameters: TuningParameters,
        source: DatasetRef | None = None,
        evaluation_copy: str | None = None,
    ) -> None:
        self.dataset, self.kind, self.examples, self.p = dataset, kind, examples, parameters
        self.source = source or dataset  # what the pipeline reads: a copy of the dataset
        self.evaluation_copy = evaluation_copy or parameters.evaluation_data_uri
        self.problems: list[Problem] = []
        self.base_model = models.BASE_MODELS.get(
            parameters.large_model_reference or models.DEFAULT_BASE_MODEL[kind]
        )
        self.accelerator = parameters.accelerator_type or models.DEFAULT_ACCELERATOR

    def fail(self, parameter: str, rule: str, message: str) -> None:
        self.problems.append(Problem(parameter, rule, message))

    def all(self) -> None:
        self.dataset_and_job()
        self.regions()
        self.base_model_fits()
        self.steps_and_rate()
        self.evaluation()
        self.tensorboard()
        self.encryption()
        self.chat_only()
        self.names_and_labels()
        self.problems += refused(self.p, PIPELINE)

    def dataset_and_job(self) -> None:
        self.problems += dataset_and_project_problems(self.dataset, self.examples, self.p)
        if not self.p.output_dir:
            self.fail("output_dir", "required", "gcsOutputDirectory (a gs:// folder) is required")
        elif not GCS_URI.fullmatch(self.p.output_dir):
            self.fail("output_dir", "format", "must be a gs://bucket/folder URI")
        if self.p.service_account and not SERVICE_ACCOUNT.fullmatch(self.p.service_account):
            self.fail("service_account", "format", "must be a service account email")

    def regions(self) -> None:
        regions = ", ".join(models.PIPELINE_REGIONS)
        if not self.p.pipeline_region:
            self.fail("pipeline_region", "required", "the pipeline job's region is required (S-11)")
        elif self.p.pipeline_region not in models.PIPELINE_REGIONS:
            self.fail("pipeline_region", "S-11", f"not a pipeline region; use one of {regions}")
        if self.p.location is not None and self.p.location not in models.PIPELINE_REGIONS:
            self.fail("location", "S-12", f"not a model upload region; use one of {regions}")

    def base_model_fits(self) -> None:
        name = self.p.large_model_reference
        if self.base_model is None:
            self.fail(
                "large_model_reference",
                "S-21",
                f"unknown base model; use one of {', '.join(models.BASE_MODELS)}",
            )
            return
        if self.base_model.kind is not self.kind:
            self.fail(
                "large_model_reference",
                "S-21",
                f"{name} tunes {self.base_model.kind} datasets, and this dataset is {self.kind}",
            )
        wanted = self.p.max_context_length
        if wanted is not None:
            if self.kind is DatasetKind.CHAT:
                self.fail("max_context_length", "S-9", "code chat takes no max_context_length")
            elif wanted != self.base_model.context:
                self.fail(
                    "max_context_length",
                    "S-9",
                    f"{self.base_model.name} has a {self.base_model.context} context, not {wanted}",
                )

    def steps_and_rate(self) -> None:
        if self.p.train_steps is not None and self.p.train_steps < 1:
            self.fail("train_steps", "S-15", "must be at least 1")
        if self.p.learning_rate_multiplier is not None and self.p.learning_rate_multiplier <= 0:
            self.fail("learning_rate_multiplier", "S-16", "must be greater than 0")

    def evaluation(self) -> None:
        uri = self.p.evaluation_data_uri
        if uri is not None and not GCS_OBJECT_URI.fullmatch(uri):
            self.fail("evaluation_data_uri", "S-10", "must be a gs://bucket/object URI")
        if self.p.evaluation_interval is not None and self.p.evaluation_interval < 1:
            self.fail("evaluation_interval", "S-17", "must be at least 1 step")
        if uri is None and self.kind is DatasetKind.GENERATION:
            if self.p.evaluation_interval is not None:
                self.fail("evaluation_interval", "S-17", "needs evaluation_data_uri")
            if self.p.enable_early_stopping:
                self.fail("enable_early_stopping", "S-17", "needs evaluation_data_uri")

    def tensorboard(self) -> None:
        name = self.p.tensorboard_resource_id
        if name is None:
            return
        match = TENSORBOARD.fullmatch(name)
        if match is None:
            self.fail(
                "tensorboard_resource_id",
                "S-18",
                "must be projects/PROJECT/locations/REGION/tensorboards/ID",
            )
        elif self.p.pipeline_region and match["location"] != self.p.pipeline_region:
            self.fail(
                "tensorboard_resource_id",
                "S-18",
                f"the TensorBoard is in {match['location']}; it must be in the pipeline's region, "
                f"{self.p.pipeline_region}",
            )

    def encryption(self) -> None:
        key = self.p.encryption_spec_key_name
        if key is None:
            return
        match = KMS_KEY.fullmatch(key)
        if match is None:
            self.fail(
                "encryption_spec_key_name",
                "format",
                "must be projects/P/locations/L/keyRings/R/cryptoKeys/K",
            )
        elif match["location"] != models.CMEK_REGION:
            self.fail("encryption_spec_key_name", "S-14", "the key must be in us-central1")
        if self.accelerator != models.CMEK_ACCELERATOR:
            self.fail("encryption_spec_key_name", "S-14", "CMEK works only with accelerator GPU")
        for name, region in (
            ("pipeline_region", self.p.pipeline_region),
            ("location", self.p.location or self.p.pipeline_region),
        ):
            if region and region != models.CMEK_REGION:
                self.fail(name, "S-14", f"CMEK needs {name} us-central1, not {region}")

    def chat_only(self) -> None:
        if self.kind is DatasetKind.CHAT:
            for name in (
                "evaluation_data_uri",
                "evaluation_interval",
                "enable_early_stopping",
                "enable_checkpoint_selection",
            ):
                if getattr(self.p, name) is not None:
                    self.fail(name, "S-6", "code chat supports no evaluation")
        elif self.p.default_context is not None:
            self.fail("default_context", "S-19", "default_context is for code chat only")

    def names_and_labels(self) -> None:
        self.problems += name_and_label_problems(self.p, len(self.own_labels()))

    # --- the plan ----------------------------------------------------------------------------
    def own_labels(self) -> dict[str, str]:
        """Labels that link the job to its dataset (and the tuned model to its base model)."""
        labels = {"codetune-dataset": slug(self.dataset.name, 63) or "dataset"}
        if self.dataset.generation:
            labels["codetune-generation"] = self.dataset.generation[:63]
        if self.base_model is not None:
            labels["codetune-base-model"] = self.base_model.label_value
        return labels

    def plan(self) -> PipelineJobPlan:
        p, base = self.p, self.base_model
        # all() has checked these; a plan is built only when it found no problem.
        assert base is not None and p.project and p.pipeline_region and p.output_dir
        train_steps = p.train_steps or models.DEFAULT_TRAIN_STEPS
        batch_size = base.batch_sizes[self.accelerator]
        epochs = round(train_steps * batch_size / self.examples, 2)
        name = slug(self.dataset.name.rpartition("/")[2].removesuffix(".jsonl"), 40) or "dataset"
        values: dict[str, Any] = {
            "project": p.project,
            "location": p.location or p.pipeline_region,
            "large_model_reference": base.name,
            "model_display_name": p.model_display_name
            or f"{name} ({base.name})"[:MAX_DISPLAY_NAME],
            "dataset_uri": self.source.uri,
            "train_steps": train_steps,
            "learning_rate_multiplier": p.learning_rate_multiplier or 1.0,
            "accelerator_type": self.accelerator,
        }
        optional = {
            "evaluation_data_uri": self.evaluation_copy if p.evaluation_data_uri else None,
            "evaluation_interval": p.evaluation_interval,
            "enable_early_stopping": p.enable_early_stopping,
            "enable_checkpoint_selection": p.enable_checkpoint_selection,
            "tensorboard_resource_id": p.tensorboard_resource_id,
            "default_context": p.default_context,
            "encryption_spec_key_name": p.encryption_spec_key_name,
            "max_context_length": p.max_context_length,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        body: dict[str, Any] = {
            "displayName": p.display_name or f"codetune {name}"[:MAX_DISPLAY_NAME],
            "templateUri": base.template,
            "runtimeConfig": {"gcsOutputDirectory": p.output_dir, "parameterValues": values},
            "labels": {**p.labels, **self.own_labels()},
        }
        if p.service_account:
            body["serviceAccount"] = p.service_account
        if p.encryption_spec_key_name:
            body["encryptionSpec"] = {"kmsKeyName": p.encryption_spec_key_name}
        warnings = [models.LEGACY_WARNING.format(model=base.name)]
        if epochs < 1:
            warnings.append(
                f"S-15: {train_steps} steps x batch {batch_size} over {self.examples:,} examples is "
                f"{epochs} epochs: the model will not see every example; raise train_steps"
            )
        low, high = models.RECOMMENDED_TRAIN_STEPS
        if self.examples >= 500 and not low <= train_steps <= high:
            warnings.append(f"S-15: {low} to {high:,} steps are recommended for 500+ examples")
        return PipelineJobPlan(
            region=p.pipeline_region,
            project=p.project,
            job_id=job_id(self.dataset, body),
            body=body,
            derived=Derived(
                base_model=base.name,
                default_context=p.default_context,  # given to chat examples without one (S-19)
                template=base.template,
                tuning_region=models.TUNING_REGION_OF_ACCELERATOR[self.accelerator],
                batch_size=batch_size,
                epochs=epochs,
            ),
            warnings=warnings,
            evaluation_source=p.evaluation_data_uri,
        )
