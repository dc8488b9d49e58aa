"""Where a dataset's tuning parameters come from, gathered in precedence order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from codetune.tuning import parameters
from codetune.tuning.manifest import parse_manifest
from codetune.tuning.parameters import Problem

Source = tuple[str, dict[str, object]]


def parameter_sources(
    environ: Mapping[str, str],
    dataset_uri: str,
    manifest: bytes | None = None,
    metadata: Mapping[str, str] | None = None,
    assignments: Iterable[str] = (),
) -> tuple[list[Source], list[Problem]]:
    """The deployment's CODETUNE_* defaults < the manifest < the object's metadata < --set,
    and the problems found reading them (a broken manifest, a malformed --set)."""
    sources: list[Source] = [("deployment", dict(parameters.from_environment(environ)))]
    problems: list[Problem] = []
    if manifest is not None:
        document, problems = parse_manifest(manifest, dataset_uri)
        evaluation = {"evaluation_data_uri": document.evaluation} if document.evaluation else {}
        sources.append(("manifest", {**document.parameters, **evaluation}))
    if metadata:
        sources.append(("metadata", dict(parameters.from_metadata(metadata))))
    assigned, assignment_problems = parameters.from_assignments(assignments)
    if assigned:
        sources.append(("--set", dict(assigned)))
    return sources, problems + assignment_problems
