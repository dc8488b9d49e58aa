"""The claim primitive (codetune.state.once) over an in-memory persistence layer with Cloud
Storage's generation preconditions: what both job creation and announcements rest on."""

from __future__ import annotations

import pytest

from codetune.state.once import Claimed, Gone, Held, once


class Memory:
    def __init__(self) -> None:
        self.claimed: Claimed | None = None
        self.generation = 0
        self.writes = 0

    def read(self) -> tuple[Claimed | None, int]:
        return self.claimed, self.generation

    def write(self, claimed: Claimed, generation: int) -> bool:
        if generation != self.generation:
            return False
        self.claimed, self.generation, self.writes = claimed, self.generation + 1, self.writes + 1
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_caller_acts_and_every_later_one_reads_its_result() -> None:
    claims, acts = Memory(), []
    assert once(claims, lambda: acts.append(1) or "job-1", 600) == ("job-1", True)
    assert once(claims, lambda: acts.append(2) or "job-2", 600) == ("job-1", False)
    assert acts == [1]


def test_a_young_claim_holds_and_an_old_one_is_taken_over() -> None:
    claims, clock = Memory(), Clock()
    claims.claimed, claims.generation = Claimed(clock.now), 1  # a caller that died mid-way
    with pytest.raises(Held):
        once(claims, lambda: "mine", 600, clock=clock)
    assert once(claims, lambda: "mine", 600, take_over_at_once=True, clock=clock) == ("mine", True)
    claims.claimed = Claimed(clock.now)
    clock.now += 600
    assert once(claims, lambda: "later", 600, clock=clock) == ("later", True)


def test_a_claim_taken_between_the_read_and_the_write_holds() -> None:
    claims = Memory()
    real = claims.write

    def raced(claimed: Claimed, generation: int) -> bool:
        claims.generation += 1  # another caller wrote first
        return real(claimed, generation)

    claims.write = raced  # type: ignore[method-assign]
    with pytest.raises(Held, match="took it first"):
        once(claims, lambda: "x", 600)


def test_a_failure_that_did_nothing_frees_the_claim_and_any_other_keeps_it() -> None:
    claims, clock = Memory(), Clock()

    def refused() -> str:
        raise LookupError("429: nothing created")

    with pytest.raises(LookupError):
        once(claims, refused, 600, released_by=(LookupError,), clock=clock)
    assert once(claims, lambda: "next", 600, clock=clock) == ("next", True)  # at once
    ambiguous = Memory()

    def timed_out() -> str:
        raise TimeoutError("may exist")

    with pytest.raises(TimeoutError):
        once(ambiguous, timed_out, 600, released_by=(LookupError,), clock=clock)
    with pytest.raises(Held):
        once(ambiguous, lambda: "again", 600, clock=clock)


def test_only_its_own_claim_is_freed() -> None:
    claims, clock = Memory(), Clock()

    def refused_after_a_takeover() -> str:
        claims.claimed, claims.generation = Claimed(clock.now + 1), claims.generation + 1
        raise LookupError("refused")

    with pytest.raises(LookupError):
        once(claims, refused_after_a_takeover, 600, released_by=(LookupError,), clock=clock)
    assert claims.claimed == Claimed(clock.now + 1)  # the other caller's, untouched


def test_an_orphan_is_found_and_named_and_a_lost_one_is_gone() -> None:
    claims = Memory()
    claims.claimed, claims.generation = Claimed(1.0), 1
    acted = []
    assert once(claims, lambda: acted.append(1) or "new", 600, find=lambda: "found") == (
        "found",
        False,
    )
    assert acted == [] and claims.claimed is not None and claims.claimed.result == "found"
    with pytest.raises(Gone):
        once(Memory(), lambda: "never", 600, find=lambda: None, may_act=False)
