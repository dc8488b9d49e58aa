"""Where a dataset's tuning parameters come from, gathered in precedence order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from codetune.dataset import Finding, Rule, SecretSeverity
from codetune.dataset.keys import KNOWN_KEYS, bounded_field, shown_key, strings
from codetune.state.records import Inputs, PlanProblem
from codetune.tuning import parameters
from codetune.tuning.manifest import parse_manifest
from codetune.tuning.parameters import DATASET_SOURCES, Problem

Source = tuple[str, dict[str, object]]
# The names a finding in a layer shows whole (any other key is cut: codetune.dataset.keys).
_SHOWN = KNOWN_KEYS | frozenset(parameters.NAMES)


def dataset_layers(
    dataset_uri: str, manifest: bytes | None = None, metadata: Mapping[str, str] | None = None
) -> tuple[list[Source], list[Problem]]:
    """What a dataset's uploader set: the manifest < the object's metadata, and the problems
    found reading them. validate freezes these in the record of the version it validated."""
    layers: list[Source] = []
    problems: list[Problem] = []
    if manifest is not None:
        document, problems = parse_manifest(manifest, dataset_uri)
        evaluation = {"evaluation_data_uri": document.evaluation} if document.evaluation else {}
        layers.append(("manifest", {**document.parameters, **evaluation}))
    if metadata:
        layers.append(("metadata", dict(parameters.from_metadata(metadata))))
    return layers, problems


def parameter_sources(
    environ: Mapping[str, str],
    dataset_uri: str,
    manifest: bytes | None = None,
    metadata: Mapping[str, str] | None = None,
    assignments: Iterable[str] = (),
) -> tuple[list[Source], list[Problem]]:
    """The deployment's CODETUNE_* defaults < the manifest < the object's metadata < --set,
    and the problems found reading them (a broken manifest, a malformed --set)."""
    layers, problems = dataset_layers(dataset_uri, manifest, metadata)
    sources: list[Source] = [("deployment", dict(parameters.from_environment(environ))), *layers]
    assigned, assignment_problems = parameters.from_assignments(assignments)
    if assigned:
        sources.append(("--set", dict(assigned)))
    return sources, problems + assignment_problems


def freeze(layers: list[Source], problems: list[Problem]) -> Inputs:
    """A dataset's layers and their problems, for its record (Record.inputs)."""
    return Inputs(
        tuple((origin, dict(values)) for origin, values in layers),
        tuple(PlanProblem(p.parameter, p.rule, p.message) for p in problems),
    )


def frozen_sources(
    environ: Mapping[str, str], inputs: Inputs | None
) -> tuple[list[Source], list[Problem]]:
    """The deployment's CODETUNE_* defaults < a record's frozen layers, and their problems: what
    validate and tune both resolve a dataset's parameters from."""
    # Stored layers are the uploader's whatever origin they claim: deployment values come from
    # the environment only.
    layers = [
        (str(origin) if origin in parameters.DATASET_SOURCES else "manifest", dict(values))
        for origin, values in (inputs.layers if inputs else ())
    ]
    problems = [
        Problem(p.parameter, p.rule, p.message) for p in (inputs.problems if inputs else ())
    ]
    return [("deployment", dict(parameters.from_environment(environ))), *layers], problems


def layer_strings(
    layers: Iterable[tuple[str, Mapping[str, object]]],
) -> list[tuple[str, str, bool]]:
    """Every string a dataset's uploader set beside it, keys included, as `(field, text, is a
    key)`: the values of the layers `manifest` and `metadata` (the deployment's are not looked
    at), each named by where it was written: `manifest: parameters.default_context`,
    `manifest: evaluation`, `metadata: codetune-display_name`. What the validator scans for
    credentials beside the examples (`validate_stream(beside=...)`): a key in the manifest's
    `default_context` is every converted example's system instruction."""
    found: list[tuple[str, str, bool]] = []
    for origin, values in layers:
        if origin not in DATASET_SOURCES or not isinstance(values, Mapping):
            continue
        for name, value in values.items():
            shown = shown_key(str(name), _SHOWN)
            if origin == "metadata":
                place = f"metadata: {parameters.METADATA_PREFIX}{shown}"
            elif name == "evaluation_data_uri":  # the manifest's `evaluation`, resolved
                place = "manifest: evaluation"
            else:
                place = f"manifest: parameters.{shown}"
            found.append((place, str(name), True))
            found += strings(value, place, _SHOWN)
    return found


def layer_findings(
    layers: Iterable[tuple[str, Mapping[str, object]]],
    severity: SecretSeverity = SecretSeverity.ERROR,
) -> list[Finding]:
    """The credentials in `layer_strings(layers)` as report findings (rule `secret`, no line):
    errors, or warnings where the deployment makes secrets warnings; none when the scan is off.
    Pure. (`validate_stream(beside=layer_strings(...))` reports the same, and counts them.)"""
    if severity is SecretSeverity.OFF:
        return []
    from codetune.dataset.secrets import find_strings

    return [
        Finding(Rule.SECRET, secret.describe(), None, bounded_field(secret.field))
        for secret in find_strings(layer_strings(layers))
    ]
