"""How every planner plans: rules over what the plan is made from, each returning its
problems, run in one place; and the rules every kind of job shares. Pure.

A backend's planner is its list of rules (the shared ones below and its own) and the function
that builds the request once none of them found a problem. Rules run in their list's order,
and the problems are reported in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec

from codetune.dataset import DatasetKind
from codetune.dataset.keys import shown_key
from codetune.exceptions import PlanRejected
from codetune.state import store
from codetune.tuning.common import (
    GCS_OBJECT_URI,
    KMS_KEY,
    LABEL_KEY,
    LABEL_VALUE,
    MAX_DISPLAY_NAME,
    MAX_LABELS,
    OWN_LABEL_PREFIX,
    PROJECT_ID,
    SERVICE_ACCOUNT,
    DatasetRef,
)
from codetune.tuning.parameters import Problem, TuningParameters, refused


class PlanInputs(msgspec.Struct, frozen=True, kw_only=True):
    """What a plan is made from: the dataset version, its kind and size, the parameters, and
    where the job reads its copies (the state bucket, under the system prefix)."""

    dataset: DatasetRef
    kind: DatasetKind
    examples: int
    parameters: TuningParameters
    state_bucket: str
    system_prefix: str

    @property
    def pinned_uri(self) -> str:
        """The validated version's pinned copy."""
        return store.pinned_uri(
            self.state_bucket, self.system_prefix, self.dataset.name, self.dataset.generation
        )

    def converted_uri(self, role: str, target: str) -> str:
        """The version's copy for `role` (training, validation) in `target`'s format."""
        dataset = self.dataset
        return store.converted_uri(
            self.state_bucket, self.system_prefix, dataset.name, dataset.generation, role, target
        )


Inputs = TypeVar("Inputs", bound=PlanInputs)
Planned = TypeVar("Planned")
PlanRule = Callable[[Inputs], list[Problem]]


def plan(
    inputs: Inputs, rules: Sequence[PlanRule[Inputs]], build: Callable[[Inputs], Planned]
) -> Planned:
    """What `build` makes of `inputs`, once no rule has found a problem; else PlanRejected
    with the problems of every rule."""
    problems = [problem for rule in rules for problem in rule(inputs)]
    if problems:
        raise PlanRejected(problems)
    return build(inputs)


def dataset_and_project(inputs: PlanInputs) -> list[Problem]:
    """The dataset version, its size and the project."""
    dataset, p = inputs.dataset, inputs.parameters
    problems = []
    if not GCS_OBJECT_URI.fullmatch(dataset.uri):
        problems.append(
            Problem("dataset_uri", "S-10", "the dataset must be a gs://bucket/object URI")
        )
    if dataset.generation is not None and not dataset.generation.isdigit():
        problems.append(Problem("dataset_uri", "format", "the generation after # must be a number"))
    if inputs.examples < 1:
        problems.append(
            Problem("examples", "range", "the dataset's number of examples must be at least 1")
        )
    if not p.project:
        problems.append(Problem("project", "required", "the Google Cloud project is required"))
    elif not PROJECT_ID.fullmatch(p.project):
        problems.append(
            Problem(
                "project", "format", "a project ID is 6-30 lowercase letters, digits or hyphens"
            )
        )
    return problems


def service_account(inputs: PlanInputs) -> list[Problem]:
    account = inputs.parameters.service_account
    if account and not SERVICE_ACCOUNT.fullmatch(account):
        return [Problem("service_account", "format", "must be a service account email")]
    return []


def learning_rate(inputs: PlanInputs) -> list[Problem]:
    """S-16."""
    multiplier = inputs.parameters.learning_rate_multiplier
    if multiplier is not None and multiplier <= 0:
        return [Problem("learning_rate_multiplier", "S-16", "must be greater than 0")]
    return []


def evaluation_uri(inputs: PlanInputs) -> list[Problem]:
    """S-10, for the evaluation dataset."""
    uri = inputs.parameters.evaluation_data_uri
    if uri is not None and not GCS_OBJECT_URI.fullmatch(uri):
        return [Problem("evaluation_data_uri", "S-10", "must be a gs://bucket/object URI")]
    return []


def kms_key(inputs: PlanInputs) -> list[Problem]:
    """A Cloud KMS key's resource name (where it must be is each backend's own rule)."""
    key = inputs.parameters.encryption_spec_key_name
    if key is not None and KMS_KEY.fullmatch(key) is None:
        return [
            Problem(
                "encryption_spec_key_name",
                "format",
                "must be projects/P/locations/L/keyRings/R/cryptoKeys/K",
            )
        ]
    return []


def refused_by(backend: str) -> PlanRule[PlanInputs]:
    """The rule refusing the parameters that are set and that `backend` does not take."""

    def rule(inputs: PlanInputs) -> list[Problem]:
        return refused(inputs.parameters, backend)

    return rule


def names_and_labels(p: TuningParameters, own_labels: int) -> list[Problem]:
    """S-20's display name lengths and the label rules, beside the job's `own_labels`
    (codetune's, which each backend counts)."""
    problems = []
    for name in ("display_name", "model_display_name"):
        value = getattr(p, name)
        if value is not None and len(value) > MAX_DISPLAY_NAME:
            problems.append(
                Problem(name, "S-20", f"{len(value)} characters; at most {MAX_DISPLAY_NAME}")
            )
    problems += [found for key, value in p.labels.items() if (found := label_problem(key, value))]
    if len(p.labels) + own_labels > MAX_LABELS:
        problems.append(Problem("labels", "labels", f"at most {MAX_LABELS - own_labels} labels"))
    return problems


def label_problem(key: str, value: str) -> Problem | None:
    """What is wrong with one of the user's labels, if anything."""
    if key.startswith(OWN_LABEL_PREFIX):
        why = f"{shown_key(key)}: labels starting {OWN_LABEL_PREFIX} are the system's own"
    elif not LABEL_KEY.fullmatch(key):
        why = f"{shown_key(key)!r}: keys are 1-63 lowercase letters, digits, _ or -, starting with a letter"
    elif not LABEL_VALUE.fullmatch(value):
        why = f"{shown_key(key)}: values are up to 63 lowercase letters, digits, _ or -"
    else:
        return None
    return Problem("labels", "labels", why)
