"""Where a dataset's tuning parameters come from, gathered in precedence order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codetune.tuning import parameters
from codetune.tuning.manifest import parse_manifest
from codetune.tuning.parameters import Problem

Source = tuple[str, dict[str, object]]


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


def freeze(layers: list[Source], problems: list[Problem]) -> dict[str, Any]:
    """A dataset's layers and their problems as JSON, for its record (Record.inputs)."""
    return {
        "layers": [[origin, values] for origin, values in layers],
        "problems": [problem.to_dict() for problem in problems],
    }


def frozen_sources(
    environ: Mapping[str, str], inputs: Mapping[str, Any]
) -> tuple[list[Source], list[Problem]]:
    """The deployment's CODETUNE_* defaults < a record's frozen layers, and their problems: what
    validate and tune both resolve a dataset's parameters from."""
    # Stored layers are the uploader's whatever origin they claim: deployment values come from
    # the environment only.
    layers = [
        (str(origin) if origin in parameters.DATASET_SOURCES else "manifest", dict(values))
        for origin, values in inputs.get("layers") or []
    ]
    problems = [Problem(**problem) for problem in inputs.get("problems") or []]
    return [("deployment", dict(parameters.from_environment(environ))), *layers], problems
