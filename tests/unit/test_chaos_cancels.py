"""codetune chaos asks cancels until one lands: a lost delivery or a job that ends first must
not leave a run that exercised no cancel at all."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from codetune.local import chaos
from codetune.messages import CancelRequested
from codetune.state import Record, Stage
from codetune.state.records import Cancel


class _Publisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> Any:
        self.published.append((topic, data, attributes))
        return SimpleNamespace(result=lambda timeout: "1")


def _stack() -> Any:
    return SimpleNamespace(
        config=SimpleNamespace(bucket="uploads"),
        publisher=_Publisher(),
        topic=lambda name: f"projects/p/topics/{name}",
    )


def _record(name: str, stage: Stage, **fields: Any) -> Record:
    return Record(
        state=stage, dataset=f"gs://uploads/incoming/{name}.jsonl", generation="7",
        role="training", **fields,
    )  # fmt: skip


class _Never(random.Random):
    """A draw that never picks a new version at random."""

    def random(self) -> float:
        return 0.99


def test_the_first_version_seen_is_asked_as_the_command_line_asks() -> None:
    stack, faults = _stack(), Counter[str]()
    assert chaos._Cancels().ask(stack, _Never(), _record("a", Stage.RUNNING), faults)
    [(topic, data, attributes)] = stack.publisher.published
    assert topic.endswith("/dataset-validated")
    request = CancelRequested.decode(data, attributes)
    assert (request.name, request.generation, request.by) == ("incoming/a.jsonl", "7", "chaos")
    assert faults == Counter(cancel_asked=1)


def test_a_cancel_not_seen_to_land_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    stack, faults, cancels = _stack(), Counter[str](), chaos._Cancels()
    running = _record("a", Stage.RUNNING)
    assert cancels.ask(stack, _Never(), running, faults)
    assert not cancels.ask(stack, _Never(), running, faults)  # too soon
    monkeypatch.setattr(chaos, "_ASK_AGAIN_SECONDS", 0.0)
    assert cancels.ask(stack, _Never(), running, faults)
    assert faults == Counter(cancel_asked=1, cancel_asked_again=1)


def test_a_cancel_written_to_the_record_is_not_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chaos, "_ASK_AGAIN_SECONDS", 0.0)
    stack, faults, cancels = _stack(), Counter[str](), chaos._Cancels()
    assert cancels.ask(stack, _Never(), _record("a", Stage.RUNNING), faults)
    cancelling = _record("a", Stage.RUNNING, cancel=Cancel("chaos", "2026-12-04T00:00:00Z"))
    assert not cancels.ask(stack, _Never(), cancelling, faults)


def test_once_one_version_ended_cancelled_nothing_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chaos, "_ASK_AGAIN_SECONDS", 0.0)
    stack, faults, cancels = _stack(), Counter[str](), chaos._Cancels()
    assert cancels.ask(stack, _Never(), _record("a", Stage.RUNNING), faults)
    assert not cancels.ask(stack, _Never(), _record("b", Stage.RUNNING), faults)
    assert not cancels.ask(stack, _Never(), _record("c", Stage.CANCELLED), faults)
    assert not cancels.ask(stack, _Never(), _record("a", Stage.RUNNING), faults)
    assert faults == Counter(cancel_asked=1)


def test_when_every_asked_version_ended_otherwise_a_new_one_is_asked() -> None:
    stack, faults, cancels = _stack(), Counter[str](), chaos._Cancels()
    assert cancels.ask(stack, _Never(), _record("a", Stage.RUNNING), faults)
    assert not cancels.ask(stack, _Never(), _record("b", Stage.RUNNING), faults)  # one pending
    assert not cancels.ask(stack, _Never(), _record("a", Stage.SUCCEEDED), faults)
    assert cancels.ask(stack, _Never(), _record("b", Stage.RUNNING), faults)
    assert faults == Counter(cancel_asked=2)
