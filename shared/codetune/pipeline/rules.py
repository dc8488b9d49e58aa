"""The legacy pipeline job's own rules (S-6, S-9, S-11..S-19, S-21): each returns its problems.
The rules every backend shares are in codetune.tuning.rules."""

from __future__ import annotations

from codetune.dataset import DatasetFormat, DatasetKind
from codetune.pipeline import models
from codetune.tuning.common import GCS_URI, KMS_KEY, TENSORBOARD, slug
from codetune.tuning.parameters import Problem
from codetune.tuning.rules import PlanInputs, names_and_labels


class PipelineInputs(PlanInputs, frozen=True, kw_only=True):
    """What a pipeline plan is made from: the shared inputs, the dataset's format, and the base
    model and accelerator the parameters choose (None: a model the table does not know)."""

    format: DatasetFormat
    base: models.BaseModel | None
    accelerator: str


def output_dir(inputs: PipelineInputs) -> list[Problem]:
    folder = inputs.parameters.output_dir
    if not folder:
        return [
            Problem("output_dir", "required", "gcsOutputDirectory (a gs:// folder) is required")
        ]
    if not GCS_URI.fullmatch(folder):
        return [Problem("output_dir", "format", "must be a gs://bucket/folder URI")]
    return []


def regions(inputs: PipelineInputs) -> list[Problem]:
    """S-11, S-12: where the pipeline runs, and where the tuned model is uploaded."""
    p, problems = inputs.parameters, []
    regions = ", ".join(models.PIPELINE_REGIONS)
    if not p.pipeline_region:
        problems.append(
            Problem("pipeline_region", "required", "the pipeline job's region is required (S-11)")
        )
    elif p.pipeline_region not in models.PIPELINE_REGIONS:
        problems.append(
            Problem("pipeline_region", "S-11", f"not a pipeline region; use one of {regions}")
        )
    if p.location is not None and p.location not in models.PIPELINE_REGIONS:
        problems.append(
            Problem("location", "S-12", f"not a model upload region; use one of {regions}")
        )
    return problems


def base_model(inputs: PipelineInputs) -> list[Problem]:
    """S-21: a known base model of the dataset's kind."""
    base, name = inputs.base, inputs.parameters.large_model_reference
    if base is None:
        return [
            Problem(
                "large_model_reference",
                "S-21",
                f"unknown base model; use one of {', '.join(models.BASE_MODELS)}",
            )
        ]
    if base.kind is not inputs.kind:
        why = f"{name} tunes {base.kind} datasets, and this dataset is {inputs.kind}"
        return [Problem("large_model_reference", "S-21", why)]
    return []


def context_length(inputs: PipelineInputs) -> list[Problem]:
    """S-9: a generation dataset's max_context_length is its base model's (of a known one)."""
    wanted, base = inputs.parameters.max_context_length, inputs.base
    if wanted is None or base is None:
        return []
    if inputs.kind is DatasetKind.CHAT:
        return [Problem("max_context_length", "S-9", "code chat takes no max_context_length")]
    if wanted != base.context:
        why = f"{base.name} has a {base.context} context, not {wanted}"
        return [Problem("max_context_length", "S-9", why)]
    return []


def train_steps(inputs: PipelineInputs) -> list[Problem]:
    """S-15."""
    steps = inputs.parameters.train_steps
    if steps is not None and steps < 1:
        return [Problem("train_steps", "S-15", "must be at least 1")]
    return []


def evaluation(inputs: PipelineInputs) -> list[Problem]:
    """S-17: the evaluation interval, and what needs an evaluation dataset."""
    p, problems = inputs.parameters, []
    if p.evaluation_interval is not None and p.evaluation_interval < 1:
        problems.append(Problem("evaluation_interval", "S-17", "must be at least 1 step"))
    if p.evaluation_data_uri is None and inputs.kind is DatasetKind.GENERATION:
        if p.evaluation_interval is not None:
            problems.append(Problem("evaluation_interval", "S-17", "needs evaluation_data_uri"))
        if p.enable_early_stopping:
            problems.append(Problem("enable_early_stopping", "S-17", "needs evaluation_data_uri"))
    return problems


def tensorboard(inputs: PipelineInputs) -> list[Problem]:
    """S-18: a TensorBoard instance in the pipeline's region."""
    p = inputs.parameters
    if p.tensorboard_resource_id is None:
        return []
    match = TENSORBOARD.fullmatch(p.tensorboard_resource_id)
    if match is None:
        why = "must be projects/PROJECT/locations/REGION/tensorboards/ID"
        return [Problem("tensorboard_resource_id", "S-18", why)]
    if p.pipeline_region and match["location"] != p.pipeline_region:
        why = (
            f"the TensorBoard is in {match['location']}; it must be in the pipeline's region, "
            f"{p.pipeline_region}"
        )
        return [Problem("tensorboard_resource_id", "S-18", why)]
    return []


def encryption(inputs: PipelineInputs) -> list[Problem]:
    """S-14: customer-managed keys only in us-central1, with the GPU, for a pipeline that runs
    and uploads there (the key's name itself: the shared rule)."""
    p, problems = inputs.parameters, []
    if p.encryption_spec_key_name is None:
        return []
    match = KMS_KEY.fullmatch(p.encryption_spec_key_name)
    if match is not None and match["location"] != models.CMEK_REGION:
        problems.append(
            Problem("encryption_spec_key_name", "S-14", "the key must be in us-central1")
        )
    if inputs.accelerator != models.CMEK_ACCELERATOR:
        problems.append(
            Problem("encryption_spec_key_name", "S-14", "CMEK works only with accelerator GPU")
        )
    for name, region in (
        ("pipeline_region", p.pipeline_region),
        ("location", p.location or p.pipeline_region),
    ):
        if region and region != models.CMEK_REGION:
            problems.append(Problem(name, "S-14", f"CMEK needs {name} us-central1, not {region}"))
    return problems


def chat_only(inputs: PipelineInputs) -> list[Problem]:
    """S-6: code chat has no evaluation; S-19: default_context is for code chat only."""
    p = inputs.parameters
    if inputs.kind is not DatasetKind.CHAT:
        if p.default_context is None:
            return []
        return [Problem("default_context", "S-19", "default_context is for code chat only")]
    return [
        Problem(name, "S-6", "code chat supports no evaluation")
        for name in (
            "evaluation_data_uri",
            "evaluation_interval",
            "enable_early_stopping",
            "enable_checkpoint_selection",
        )
        if getattr(p, name) is not None
    ]


def labels(inputs: PipelineInputs) -> list[Problem]:
    """S-20 and the label rules, beside the job's own labels."""
    return names_and_labels(inputs.parameters, len(own_labels(inputs)))


def own_labels(inputs: PipelineInputs) -> dict[str, str]:
    """Labels that link the job to its dataset (and the tuned model to its base model)."""
    dataset = inputs.dataset
    found = {"codetune-dataset": slug(dataset.name, 63) or "dataset"}
    if dataset.generation:
        found["codetune-generation"] = dataset.generation[:63]
    if inputs.base is not None:
        found["codetune-base-model"] = inputs.base.label_value
    return found
