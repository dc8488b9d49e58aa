"""Exactly once, for every backend: a paid job is created by one delivery only, with the claim
primitive of state/once.py.

The request (a digest of what would be created) is claimed in Cloud Storage with a create-only
precondition (a `Claim` object). The delivery that wins creates the job and names it in the claim; a
later delivery reads the name from the claim and never creates. A claim whose creator died
before naming a job is resolved by asking Vertex AI for the job (`find`: by its request label
for Gemini, by its id for a pipeline), and taken over, under a precondition, once it is older
than the claim timeout (CODETUNE_CLAIM_TIMEOUT_SECONDS, 600 s), or at once for a pipeline,
whose client-chosen id refuses a second job while the first exists. A create refused with 429
created nothing: its claim is released at once and NoTuningSlot raised, as when
`context.before_create` finds no slot free. A timeout or 5xx is ambiguous: the claim stays.

Even with a client-chosen id (pipelines), the claim matters: a job deleted from Vertex AI frees
its id, and a late duplicate delivery would then create a second job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from codetune.exceptions import (
    NOT_FOUND,
    CancelledBeforeJob,
    NoTuningSlot,
    PermanentVertexError,
    RetryableVertexError,
)
from codetune.state.once import Gone, Held, ObjectClaims, once
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
    """The job, and whether this call created it (state/once.py's claim over the request's
    claim object). With `context.may_create` False (a job is known to have existed) the job is
    only looked for."""
    found: list[dict[str, Any]] = []
    made: list[tuple[dict[str, Any], bool]] = []

    def find() -> str | None:
        job = creation.find()
        found.append(job) if job else None
        return str(job["name"]) if job else None

    def create() -> str:
        context.before_create()  # a cancel first: nothing is created, the claim is freed
        try:
            job, created = creation.create()
        except RetryableVertexError as fault:
            if fault.status == TOO_MANY_REQUESTS:  # refused, not created
                raise _Refused(fault) from fault
            raise  # a timeout or a 5xx is ambiguous: the claim stays
        made.append((job, created))
        return str(job["name"])

    try:
        name, _ = once(
            ObjectClaims(context.store, creation.request),
            create,
            context.claim_timeout_seconds,
            find=find,
            take_over_at_once=creation.refused_if_exists,
            may_act=context.may_create,
            released_by=(_Refused, CancelledBeforeJob, NoTuningSlot),
        )
    except Held as held:
        raise RetryableVertexError(f"job {creation.request}: {held}") from None
    except Gone:
        raise PermanentVertexError(
            f"job {creation.request} was created but no longer exists in Vertex AI",
            NOT_FOUND,
            "NOT_FOUND",
        ) from None
    except _Refused as refused:
        fault = refused.fault
        raise NoTuningSlot(str(fault), fault.status, fault.reason) from None
    if made:
        return made[0]
    return (found[0] if found else creation.get(name)), False


class _Refused(Exception):
    """A create refused with 429: nothing was created, so its claim is freed at once."""

    def __init__(self, fault: RetryableVertexError) -> None:
        self.fault = fault
