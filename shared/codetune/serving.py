"""Where Vertex AI answers a model: a region's endpoint, or a multi-region one. One row per
multi-region, each citing its source.

Sources (read 2026-12-04):
- [locations] "Deployment and endpoints" (docs.cloud.google.com/gemini-enterprise-agent-platform/
  resources/locations): regional endpoints `https://REGION-aiplatform.googleapis.com`; the
  multi-region endpoints' table, location `us` at `https://aiplatform.us.rep.googleapis.com` and
  `eu` at `https://aiplatform.eu.rep.googleapis.com`, which keep ML processing "within a
  specific jurisdictional boundary, such as the US or the EU"; its list of generative AI regions
  by country (London is europe-west2, Zurich europe-west6: outside the EU).
- [capabilities] "Supported capabilities" (.../resources/supported-capabilities): multi-region
  endpoints serve the Gemini 3 family and later only.
- [sft] the supervised fine-tuning page: tuned Gemini 3 models are served only from the `us`
  and `eu` multi-region endpoints. Public projects show such a job's `tunedModel.endpoint` as
  `projects/N/locations/us/endpoints/E` (not read on a Google page: the client takes the
  location the job names, held to the deployment, whichever it is).

Which regions lie in a multi-region is the jurisdiction [locations] names, not a list Google
publishes; the rows below are the generative AI regions of that page in it. A deployment can
name its multi-regions itself (CODETUNE_MULTI_REGIONS, docs/evaluation.md).
"""

from __future__ import annotations

import re

import msgspec

from codetune.tuning.common import API_HOST  # a region's host, [locations]


class MultiRegion(msgspec.Struct, frozen=True):
    """A multi-region location, its host and the regions in its jurisdiction."""

    location: str
    host: str
    regions: tuple[str, ...]
    source: str


MULTI_REGIONS: dict[str, MultiRegion] = {
    row.location: row
    for row in (
        MultiRegion(
            "us",
            "aiplatform.us.rep.googleapis.com",
            (
                "us-central1",
                "us-east1",
                "us-east4",
                "us-east5",
                "us-south1",
                "us-west1",
                "us-west4",
            ),
            "locations, sft",
        ),
        MultiRegion(
            "eu",
            "aiplatform.eu.rep.googleapis.com",
            (
                "europe-central2",
                "europe-north1",
                "europe-southwest1",
                "europe-west1",
                "europe-west3",
                "europe-west4",
                "europe-west8",
                "europe-west9",
            ),
            "locations, sft",
        ),
    )
}


def served_from_multi_regions(model: str) -> bool:
    """Whether a Gemini model id is served from the multi-region endpoints: Gemini 3 and later
    [capabilities], whose tuned models are served only there [sft]."""
    found = re.match(r"gemini-(\d+)", model)
    return found is not None and int(found[1]) >= 3


def multi_region_of(region: str) -> str | None:
    """The multi-region `region` lies in, if any."""
    return next((m.location for m in MULTI_REGIONS.values() if region in m.regions), None)


def host(location: str) -> str:
    """The host that serves `location`: call only with a location the deployment admitted."""
    if location in MULTI_REGIONS:
        return MULTI_REGIONS[location].host
    return API_HOST.format(region=location)
