"""Exactly once, for every backend: a paid job is created by one delivery only.

The request (a digest of what would be created) is claimed in Cloud Storage with a create-only
precondition (a `Claim`). The delivery that wins creates the job and names it in the claim; a
later delivery reads the name from the claim and never creates. A claim whose creator died
before naming a job is resolved by asking Vertex AI for the job (`find`: by its request label
for Gemini, by its id for a pipeline), and taken over, under a precondition, once it is older
than the claim timeout (CODETUNE_CLAIM_TIMEOUT_SECONDS, 600 s). A create refused with 429
created nothing: its claim is released at once. A timeout or 5xx is ambiguous: the claim stays.

Even with a client-chosen id (pipelines), the claim matters: a job deleted from Vertex AI frees
its id, and a late duplicate delivery would then create a second job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from codetune.exceptions import NOT_FOUND, PermanentVertexError, RetryableVertexError
from codetune.state import Claim, RecordStore
from codetune.tuning.backends.base import SubmitContext

TOO_MANY_REQUESTS = 429


class Creation(msgspec.Struct, frozen=True):
    """How to create one job and how to look for it."""

    request: str  # what the claim is keyed by
    create: Callable[[], tuple[dict[str, Any], bool]]  # the job, and whether this call made it
    find: Callable[[], dict[str, Any] | None]  # the job if it exists already
    get: Callable[[str], dict[str, Any]]  # a job by name
    # True when Vertex AI refuses a second create while the job exists (a client-chosen id):
    # a claim left without a job may then be taken over at once.
    refused_if_exists: bool = False


def create_once(context: SubmitContext, creation: Creation) -> tuple[dict[str, Any], bool]:
    """The job, and whether this call created it. Every step that could let two deliveries
    both create is a conditional write: the claim is taken only if there is none (generation
    0), taken over only at the generation read, and named only at the generation written.
    With `context.may_create` False (a job is known to have existed) the job is only looked
    for."""
    store, request, may_create = context.store, creation.request, context.may_create
    claim, generation = store.claim(request)
    if claim and claim.job:
        return creation.get(claim.job), False
    if claim is not None or not may_create:
        existing = creation.find()
        if existing:  # created by a delivery that died before naming it in the claim
            _name(store, request, existing["name"])
            return existing, False
    if not may_create:
        raise PermanentVertexError(
            f"job {request} was created but no longer exists in Vertex AI", NOT_FOUND, "NOT_FOUND"
        )
    if claim is None:
        if not store.write_claim(Claim(request, time.time()), if_generation_match=0):
            raise RetryableVertexError(f"another delivery claimed job {request}")
    else:
        young = time.time() - claim.since < context.claim_timeout_seconds
        if young and not creation.refused_if_exists:
            raise RetryableVertexError(
                f"another delivery is creating job {request}; try again later"
            )
        # A claim left by a delivery that died before creating anything: take it over, unless
        # another delivery does so first.
        if not store.write_claim(Claim(request, time.time()), if_generation_match=generation):
            raise RetryableVertexError(f"another delivery took over job {request}")
    try:
        job, created = creation.create()
    except RetryableVertexError as fault:
        if fault.status == TOO_MANY_REQUESTS:  # refused, not created: the next may try at once
            _, generation = store.claim(request)
            store.write_claim(Claim(request, 0.0), if_generation_match=generation)
        raise
    _name(store, request, job["name"])
    return job, created


def _name(store: RecordStore, request: str, job: str) -> None:
    """Name the job in the claim, so that later deliveries read it from there."""
    _, generation = store.claim(request)
    store.write_claim(Claim(request, time.time(), job), if_generation_match=generation)
