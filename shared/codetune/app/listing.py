"""The sweep's reads of unfinished jobs: a few paged list requests, not one `get` per job.

Each open job goes with the others its backend's `listing` returns in the same list request (a
Gemini job: tuningJobs.list by the label `codetune-sweep` that the deployment's jobs of one
upload day share; a pipeline job has none, and is read by `get`). A request that would return
only one of the open jobs is not sent: its `get` costs no more. The others are paged until every
one of their open jobs was seen, or as many pages were read as they have open jobs, so that a
list costs at most twice the gets it replaces however many ended jobs share its label. An open
job no list returned (created before the label, or a list that failed) is read by `get`.

Every name a list returns is held to the deployment before any of it is used: a name outside it
leaves that request's jobs to their gets, as any error from Vertex AI does.
"""

from __future__ import annotations

from typing import Any

from codetune.exceptions import ForeignName, VertexError
from codetune.logs import Logger
from codetune.state import JobPointer
from codetune.tuning.backends import BACKENDS, TuningBackend
from codetune.tuning.backends.base import Listing, VertexAI


def listed_jobs(
    pointers: list[JobPointer], state_bucket: str, vertex: VertexAI, log: Logger
) -> dict[str, dict[str, Any]]:
    """The unfinished jobs that list requests returned, by name."""
    groups: dict[tuple[str, Listing], set[str]] = {}
    for pointer in pointers:
        backend = BACKENDS.get(pointer.backend)
        listing = backend.listing(pointer, state_bucket) if backend else None
        if backend is not None and listing is not None:
            groups.setdefault((backend.name, listing), set()).add(pointer.job)
    found: dict[str, dict[str, Any]] = {}
    for (backend_name, listing), names in groups.items():
        if len(names) > 1:
            found |= _read(BACKENDS[backend_name], listing, names, vertex, log)
    return found


def _read(
    backend: TuningBackend, listing: Listing, wanted: set[str], vertex: VertexAI, log: Logger
) -> dict[str, dict[str, Any]]:
    """The `wanted` jobs among the pages of one list request."""
    found: dict[str, dict[str, Any]] = {}
    pages = 0
    try:
        for page in backend.listed(vertex, listing):
            pages += 1
            found |= {job["name"]: job for job in page if job["name"] in wanted}
            if len(found) == len(wanted) or pages >= len(wanted):
                break
    except ForeignName as fault:
        log.error("listed a job not of this deployment: its jobs read one by one", error=str(fault))
        return {}
    except VertexError as fault:
        log.warning("could not list jobs: the rest read one by one", error=str(fault))
    log.info(
        "jobs listed",
        region=listing.region,
        label=f"{listing.label[0]}={listing.label[1]}",
        open=len(wanted),
        found=len(found),
        pages=pages,
    )
    return found
