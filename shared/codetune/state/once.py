"""Exactly once, in practice, for what is paid or told: one claim primitive over a persistence
layer, used to create a tuning job and to announce that a dataset ended.

    a result in the claim ──────────────▶ that result; never act again
    a claim without one, or may_act False ▶ find(): found ▶ complete the claim with it
    still nothing, and the claim is young ▶ Held: its caller may still be at it
    no claim, or an old one (or at once) ─▶ claim it (create-only, or take it over), act,
                                             complete the claim with the result

Every step that could let two callers both act is a conditional write at the generation read:
a claim is taken only if there is still none, taken over only if it is still the one read, and
completed at the generation it then has. An action that fails having done nothing
(`released_by`) frees its own claim for the next caller at once; any other failure is
ambiguous and keeps it (for `find`, or for the timeout). Two persistence layers: a claim object
of its own (ObjectClaims, for job creation) and a field of the record it is about
(RecordClaims in store.py, for announcements).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import msgspec

from codetune.exceptions import CodetuneError
from codetune.state.records import Claim


class Claimed(msgspec.Struct, frozen=True):
    """A claim as its persistence layer holds it: since when, and the result once done."""

    since: float  # seconds since the epoch; 0: released, anyone may take it at once
    result: str | None = None


class Persistence(Protocol):
    """Where one key's claim lives."""

    def read(self) -> tuple[Claimed | None, int]:
        """The claim and the generation of what holds it (0: there is none)."""
        ...

    def write(self, claimed: Claimed, generation: int) -> bool:
        """Write under that generation precondition; False when another writer was first."""
        ...


class Held(CodetuneError):
    """Another caller holds the claim and may still be acting."""


class Gone(CodetuneError):
    """The action was done once, but its result can no longer be found."""


def once(
    claims: Persistence,
    act: Callable[[], str],
    timeout: float,
    *,
    find: Callable[[], str | None] | None = None,
    take_over_at_once: bool = False,
    may_act: bool = True,
    released_by: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.time,
) -> tuple[str, bool]:
    """The action's result, and whether this call acted.

    `find` looks for the result of an action whose actor died before completing its claim;
    `take_over_at_once`: the action itself refuses to be done twice (a client-chosen id), so a
    claim left unfinished may be taken over without waiting; `may_act` False: the action is
    known to have been done, so it is only looked for (Gone when it is not found).
    """
    claimed, generation = claims.read()
    if claimed is not None and claimed.result is not None:
        return claimed.result, False
    if find is not None and (claimed is not None or not may_act):
        found = find()
        if found is not None:
            _complete(claims, found, clock)
            return found, False
    if not may_act:
        raise Gone("done once, and no longer found")
    mine = Claimed(clock())
    if claimed is None:  # only if there is still none: generation 0 for a claim of its own
        taken = claims.write(mine, generation)
    elif mine.since - claimed.since < timeout and not take_over_at_once:
        raise Held("another caller is at it; try again later")
    else:  # left by a caller that died before acting: taken over, unless another is first
        taken = claims.write(mine, generation)
    if not taken:
        raise Held(
            "another caller took it first" if claimed is None else "another caller took over"
        )
    try:
        result = act()
    except released_by:
        current, generation = claims.read()
        # Nothing was done: the next may act at once. Only our own claim is freed: one taken
        # over meanwhile is the other caller's.
        if (
            current is not None
            and current.result is None
            and abs(current.since - mine.since) < 1e-3
        ):
            claims.write(Claimed(0.0), generation)
        raise
    _complete(claims, result, clock)
    return result, True


def _complete(claims: Persistence, result: str, clock: Callable[[], float]) -> None:
    """Name the result in the claim, so that later callers read it from there."""
    _, generation = claims.read()
    claims.write(Claimed(clock(), result), generation)


class ClaimObjects(Protocol):
    """What ObjectClaims needs of the record store."""

    def claim(self, request: str) -> tuple[Claim | None, int]: ...

    def write_claim(self, claim: Claim, if_generation_match: int) -> bool: ...


class ObjectClaims:
    """A claim that is an object of its own: `claims/<key>.json` of the record store."""

    def __init__(self, store: ClaimObjects, key: str) -> None:
        self.store, self.key = store, key

    def read(self) -> tuple[Claimed | None, int]:
        claim, generation = self.store.claim(self.key)
        return (None if claim is None else Claimed(claim.since, claim.job)), generation

    def write(self, claimed: Claimed, generation: int) -> bool:
        return self.store.write_claim(Claim(self.key, claimed.since, claimed.result), generation)
