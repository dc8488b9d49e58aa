"""Gemini supervised tuning's own rules: the model, its table (regions, CMEK, adapter sizes)
and lifecycle, the job's region, epochs and key. Each returns its problems; the rules every
backend shares are in codetune.tuning.rules."""

from __future__ import annotations

from datetime import date

from codetune.gemini import models
from codetune.tuning.common import KMS_KEY
from codetune.tuning.parameters import MAX_EPOCHS, Problem
from codetune.tuning.rules import PlanInputs, names_and_labels

# codetune's own labels: dataset, base model, generation, the request digest and the sweep's.
OWN_LABELS = 5


class GeminiInputs(PlanInputs, frozen=True, kw_only=True):
    """What a Gemini plan is made from: the shared inputs, the model the parameters name (None:
    not a tunable Gemini model), and the day that decides its lifecycle."""

    model: models.GeminiModel | None
    today: date


def known_model(inputs: GeminiInputs) -> list[Problem]:
    """S-21."""
    if inputs.model is not None:
        return []
    why = f"not a tunable Gemini model; use one of {', '.join(models.GEMINI_MODELS)}"
    return [Problem("large_model_reference", "S-21", why)]


def lifecycle(inputs: GeminiInputs) -> list[Problem]:
    """A model past its announced retirement on Vertex AI is refused (one near it is warned
    about: retirement_warnings)."""
    model = inputs.model
    left = None if model is None else model.days_left(inputs.today)
    if model is None or left is None or left > 0:
        return []
    why = f"{model.name} was retired on Vertex AI on {model.retirement}{_instead(model)}"
    return [Problem("large_model_reference", "lifecycle", why)]


def retirement_warnings(model: models.GeminiModel, today: date) -> list[str]:
    """For a model within RETIREMENT_WARNING_DAYS of its retirement, one naming Google's
    replacement."""
    left = model.days_left(today)
    if left is None or not 0 < left <= models.RETIREMENT_WARNING_DAYS:
        return []
    return [
        f"{model.name} retires on Vertex AI on {model.retirement} ({left} days){_instead(model)}"
    ]


def _instead(model: models.GeminiModel) -> str:
    return f"; Google names {model.replacement} in its place" if model.replacement else ""


def model_region(inputs: GeminiInputs) -> list[Problem]:
    """A region the model's table tunes in."""
    model, region = inputs.model, inputs.parameters.pipeline_region
    if model is None or not region or region in model.regions:
        return []
    why = f"{model.name} tunes only in {', '.join(model.regions)}, not {region}"
    return [Problem("pipeline_region", "gemini", why)]


def model_cmek(inputs: GeminiInputs) -> list[Problem]:
    """A customer-managed key only for a model whose table takes one."""
    model = inputs.model
    if model is None or not inputs.parameters.encryption_spec_key_name or model.cmek:
        return []
    why = f"{model.name} tuning does not support customer-managed keys (CMEK)"
    return [Problem("encryption_spec_key_name", "gemini", why)]


def adapter_size(inputs: GeminiInputs) -> list[Problem]:
    """An adapter size the model's table takes."""
    model, size = inputs.model, inputs.parameters.adapter_size
    if model is None or size is None or size in model.adapter_sizes:
        return []
    why = f"{model.name} takes adapter sizes {', '.join(map(str, model.adapter_sizes))}"
    return [Problem("adapter_size", "gemini", why)]


def region(inputs: GeminiInputs) -> list[Problem]:
    """The job's region: required, and one Gemini tunes in (a known model's table says which:
    model_region)."""
    chosen = inputs.parameters.pipeline_region
    if not chosen:
        return [Problem("pipeline_region", "required", "the tuning job's region is required")]
    if inputs.model is None and chosen not in models.TUNING_REGIONS:
        why = (
            f"Gemini tuning does not run in {chosen}; use one of {', '.join(models.TUNING_REGIONS)}"
        )
        return [Problem("pipeline_region", "gemini", why)]
    return []


def epoch_count(inputs: GeminiInputs) -> list[Problem]:
    epochs = inputs.parameters.epoch_count
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        return [Problem("epoch_count", "range", f"1 to {MAX_EPOCHS} epochs")]
    return []


def key_region(inputs: GeminiInputs) -> list[Problem]:
    """A customer-managed key in the job's region (the key's name itself: the shared rule)."""
    p = inputs.parameters
    key = KMS_KEY.fullmatch(p.encryption_spec_key_name or "")
    if key is None or not p.pipeline_region or key["location"] == p.pipeline_region:
        return []
    why = f"the key must be in the job's region, {p.pipeline_region}"
    return [Problem("encryption_spec_key_name", "gemini", why)]


def labels(inputs: GeminiInputs) -> list[Problem]:
    """S-20 and the label rules, beside codetune's own labels."""
    return names_and_labels(inputs.parameters, OWN_LABELS)
