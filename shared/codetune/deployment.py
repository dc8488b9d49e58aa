"""What only the deployment chooses, and the checks that hold names read from elsewhere to it.

A job name or a region read from a record, a pointer, an event or even Vertex AI's own answer
is untrusted input: it picks the host that receives the functions' access token. Hosts are built
only from a region the deployment configured, and a job name is used only when it is a job of
the deployment's project in one of those regions (docs/guarantees.md).
"""

from __future__ import annotations

import re

import msgspec

from codetune.exceptions import ForeignName
from codetune.serving import MULTI_REGIONS, multi_region_of

# Google Cloud regions are lowercase words and a number: us-central1, europe-west4,
# northamerica-northeast1. Nothing else may become part of a host name.
REGION = re.compile(r"[a-z]{2,20}(?:-[a-z]{2,20}){1,2}[0-9]{1,2}", re.ASCII)
_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}"  # a project id, or its number
_JOB_NAME = re.compile(
    rf"projects/(?P<project>{_PROJECT})"
    r"/locations/(?P<region>[a-z0-9-]{1,50})"
    r"/(?P<collection>tuningJobs|pipelineJobs)"
    r"/(?P<id>[0-9]{1,20}|[a-z][-a-z0-9]{0,127})",
    re.ASCII,
)

# The metrics a job names (its experiment and the TensorBoard run behind it) are read from the
# job's answer: each id a plain word, nothing that could step out of its path segment.
_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
_PARENT = r"projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})/locations/(?P<region>[a-z0-9-]{1,50})"
# What generateContent is asked of: a Gemini base model by its full name, or the endpoint a
# tuning job reported for its tuned model (numeric ids, as Vertex AI makes them).
_MODEL_NAME = re.compile(
    rf"{_PARENT}/(?:publishers/google/models/[a-z0-9](?:[a-z0-9.-]{{0,62}}[a-z0-9])?|endpoints/[0-9]{{1,20}})",
    re.ASCII,
)
METRICS_NAMES = {
    "metadata context": re.compile(rf"{_PARENT}/metadataStores/{_ID}/contexts/{_ID}", re.ASCII),
    "metadata artifact": re.compile(rf"{_PARENT}/metadataStores/{_ID}/artifacts/{_ID}", re.ASCII),
    "metadata store": re.compile(rf"{_PARENT}/metadataStores/{_ID}", re.ASCII),
    "tensorboard run": re.compile(
        rf"{_PARENT}/tensorboards/{_ID}/experiments/{_ID}/runs/{_ID}", re.ASCII
    ),
    "time series": re.compile(
        rf"{_PARENT}/tensorboards/{_ID}/experiments/{_ID}/runs/{_ID}/timeSeries/{_ID}", re.ASCII
    ),
}


class Deployment(msgspec.Struct, frozen=True):
    """The project (its id and number) and regions the deployment runs jobs in. Empty tuples
    (a local check with no deployment) admit any project and any well-formed region."""

    projects: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    # The multi-regions (codetune.serving) models may be called in; None: those the regions lie in.
    multi_regions: tuple[str, ...] | None = None

    def region(self, region: str) -> str:
        """`region` if a host may be built from it; ForeignName otherwise."""
        if not REGION.fullmatch(region) or (self.regions and region not in self.regions):
            allowed = ", ".join(self.regions) or "a Google Cloud region"
            raise ForeignName(f"region {_shown(region)} is not this deployment's ({allowed})")
        return region

    def job_name(self, name: object) -> str:
        """`name` if it is a tuning or pipeline job of this deployment; ForeignName otherwise."""
        found = _JOB_NAME.fullmatch(name) if isinstance(name, str) else None
        if found is None:
            raise ForeignName(f"not a Vertex AI job name: {_shown(name)}")
        self._in_project(found["project"], f"job {_shown(name)}")
        self.region(found["region"])
        return str(name)

    def location(self, project: str, region: str) -> str:
        """`projects/P/locations/R`, the parent of a list request, if both are this
        deployment's; ForeignName otherwise."""
        if not re.fullmatch(_PROJECT, project, re.ASCII):
            raise ForeignName(f"not a project: {_shown(project)}")
        self._in_project(project, f"project {_shown(project)}")
        return f"projects/{project}/locations/{self.region(region)}"

    def metrics_region(self, name: object, kind: str) -> str:
        """The region of `name`, a resource of `kind` (METRICS_NAMES) in this deployment's
        project and regions; ForeignName otherwise."""
        found = METRICS_NAMES[kind].fullmatch(name) if isinstance(name, str) else None
        if found is None:
            raise ForeignName(f"not a Vertex AI {kind} name: {_shown(name)}")
        self._in_project(found["project"], f"{kind} {_shown(name)}")
        return self.region(found["region"])

    def model_location(self, name: object) -> str:
        """The location of `name`, a base model (`projects/P/locations/L/publishers/google/
        models/M`) or a tuned model's endpoint (`projects/P/locations/L/endpoints/E`) in this
        deployment's project, at one of its regions or multi-regions; ForeignName otherwise."""
        found = _MODEL_NAME.fullmatch(name) if isinstance(name, str) else None
        if found is None:
            raise ForeignName(f"not a Vertex AI model or endpoint name: {_shown(name)}")
        self._in_project(found["project"], f"model {_shown(name)}")
        location = found["region"]
        if location not in MULTI_REGIONS:
            return self.region(location)
        if location not in self.serving_multi_regions:
            allowed = ", ".join(self.serving_multi_regions) or "none"
            raise ForeignName(
                f"multi-region {location!r} is not this deployment's ({allowed}; its regions: "
                f"{', '.join(self.regions)})"
            )
        return location

    @property
    def serving_multi_regions(self) -> tuple[str, ...]:
        """The multi-regions a model may be called in: as set, else those of the regions (all
        of them for a deployment that names no region)."""
        if self.multi_regions is not None:
            return self.multi_regions
        if not self.regions:
            return tuple(MULTI_REGIONS)
        return tuple(dict.fromkeys(m for r in self.regions if (m := multi_region_of(r))))

    def _in_project(self, project: str, what: str) -> None:
        if self.projects and project not in self.projects:
            raise ForeignName(
                f"{what} is not in this deployment's project ({', '.join(self.projects)})"
            )

    def job_region(self, name: object) -> str:
        """The region of a job name this deployment may read."""
        return self.job_name(name).split("/")[3]


def _shown(value: object) -> str:
    """A value quoted for a message, cut: it came from outside."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
