"""Tuning parameters: their names, types, and where their values come from.

Values arrive as text (environment variables, object metadata, `--set name=value`) or as JSON
(a manifest). Each source is a layer; later layers override earlier ones:

    deployment defaults (CODETUNE_<NAME> environment) < manifest < object metadata < --set
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from codetune.tuning.models import CHECKPOINT_SELECTION_VALUES, TUNING_REGION_OF_ACCELERATOR

ENV_PREFIX = "CODETUNE_"
METADATA_PREFIX = "codetune-"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a parameter (or the plan as a whole) cannot be used: the parameter, rule, message."""

    parameter: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"parameter": self.parameter, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class TuningParameters:
    """Every parameter of a tuning job; None means "not set" (a default applies)."""

    # The pipeline's own parameters (S-11..S-21), by the source's names.
    large_model_reference: str | None = None
    train_steps: int | None = None
    learning_rate_multiplier: float | None = None
    evaluation_data_uri: str | None = None
    evaluation_interval: int | None = None
    enable_early_stopping: bool | None = None
    enable_checkpoint_selection: str | None = None
    tensorboard_resource_id: str | None = None
    location: str | None = None  # where the tuned model is uploaded (S-12)
    accelerator_type: str | None = None
    encryption_spec_key_name: str | None = None
    default_context: str | None = None
    model_display_name: str | None = None
    max_context_length: str | None = None
    # Gemini supervised tuning (codetune.gemini) counts epochs and sizes its adapter.
    epoch_count: int | None = None
    adapter_size: int | None = None
    # The job's own.
    project: str | None = None
    pipeline_region: str | None = None
    output_dir: str | None = None  # runtimeConfig.gcsOutputDirectory
    display_name: str | None = None
    service_account: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def set_values(self) -> dict[str, Any]:
        """The parameters that are set, by name."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in values.items() if v is not None and v != {}}


# --- Parsers: text or JSON in, a typed value out, or ValueError with what was expected -------
def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError("expected a whole number")


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def _choice(*choices: str, upper: bool = False) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _text(value)
        text = text.upper() if upper else text
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return parse


def _checkpoint_selection(value: object) -> str:
    # S-17: a string, "true", "false" or "default"; a JSON boolean is read as its string.
    if isinstance(value, bool):
        return "true" if value else "false"
    return _choice(*CHECKPOINT_SELECTION_VALUES)(value.lower() if isinstance(value, str) else value)


def _labels(value: object) -> dict[str, str]:
    """A JSON object of strings, or text `key=value,key=value`."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(sep != "=" for _, sep, _ in pairs):
            raise ValueError("expected key=value pairs separated by commas")
        return {k.strip(): v.strip() for k, _, v in pairs}
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise ValueError("expected an object of strings, or key=value,key=value")


PARSERS: dict[str, Callable[[object], Any]] = {
    "large_model_reference": _text,
    "train_steps": _integer,
    "learning_rate_multiplier": _number,
    "evaluation_data_uri": _text,
    "evaluation_interval": _integer,
    "enable_early_stopping": _boolean,
    "enable_checkpoint_selection": _checkpoint_selection,
    "tensorboard_resource_id": _text,
    "location": _text,
    "accelerator_type": _choice(*TUNING_REGION_OF_ACCELERATOR, upper=True),
    "encryption_spec_key_name": _text,
    "default_context": _text,
    "model_display_name": _text,
    "max_context_length": _choice("8k", "32k"),
    "epoch_count": _integer,
    "adapter_size": _integer,
    "project": _text,
    "pipeline_region": _text,
    "output_dir": _text,
    "display_name": _text,
    "service_account": _text,
    "labels": _labels,
}
NAMES = tuple(PARSERS)
assert set(NAMES) == {f.name for f in fields(TuningParameters)}


def normalise_name(name: str) -> str:
    """`Train-Steps` and `train_steps` name the same parameter."""
    return name.strip().lower().replace("-", "_")


def parse_layer(values: Mapping[str, object], origin: str) -> tuple[dict[str, Any], list[Problem]]:
    """Typed values of one source, and the problems of the values that could not be read."""
    parsed: dict[str, Any] = {}
    problems: list[Problem] = []
    for raw_name, raw_value in values.items():
        name = normalise_name(raw_name)
        parser = PARSERS.get(name)
        if parser is None:
            problems.append(
                Problem(
                    raw_name,
                    "unknown-parameter",
                    f"{origin}: no such parameter; known: {', '.join(NAMES)}",
                )
            )
            continue
        try:
            parsed[name] = parser(raw_value)
        except ValueError as fault:
            problems.append(Problem(name, "type", f"{origin}: {fault}"))
    return parsed, problems


def resolve(
    layers: Iterable[tuple[str, Mapping[str, object]]],
) -> tuple[TuningParameters, list[Problem]]:
    """Merge the layers, lowest precedence first, into one set of parameters.

    Labels merge key by key; every other parameter is replaced by a later layer.
    """
    merged: dict[str, Any] = {}
    labels: dict[str, str] = {}
    problems: list[Problem] = []
    for origin, values in layers:
        parsed, layer_problems = parse_layer(values, origin)
        problems += layer_problems
        labels.update(parsed.pop("labels", {}))
        merged.update(parsed)
    return TuningParameters(**merged, labels=labels), problems


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Deployment defaults: `CODETUNE_TRAIN_STEPS=500` sets train_steps."""
    return {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in PARSERS and value != ""
    }


def from_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Per-dataset settings in an object's custom metadata: `codetune-train_steps: 500`."""
    return {
        key[len(METADATA_PREFIX) :]: value
        for key, value in (metadata or {}).items()
        if key.lower().startswith(METADATA_PREFIX)
    }


def from_assignments(assignments: Iterable[str]) -> tuple[dict[str, str], list[Problem]]:
    """`--set name=value` arguments."""
    values: dict[str, str] = {}
    problems = []
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            problems.append(Problem(assignment, "syntax", "--set takes name=value"))
        else:
            values[name.strip()] = value
    return values, problems
