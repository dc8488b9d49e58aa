"""The local stack's pieces that need no emulator: how the completion topic is read, and how a
dataset finds the manifest and evaluation dataset beside it."""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from codetune.local import stack as stack_module
from codetune.local.demo import Upload, _work_folder, companions
from codetune.local.serve import serve
from codetune.local.stack import LocalStack, StackConfig, StackError

FINISHED_ID = "gs://b/incoming/a.jsonl#1/SUCCEEDED"


class Subscriber:
    """pubsub_v1.SubscriberClient as finished_messages uses it: one message, then empty pulls."""

    pulls = 0

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def pull(self, request: dict[str, Any], timeout: float) -> Any:
        Subscriber.pulls += 1
        message = SimpleNamespace(
            data=orjson.dumps({"dataset": "a"}), attributes={"finished_id": FINISHED_ID}
        )
        items = [SimpleNamespace(message=message, ack_id="1")] if Subscriber.pulls == 1 else []
        return SimpleNamespace(received_messages=items)

    def acknowledge(self, request: dict[str, Any]) -> None:
        pass


@pytest.fixture
def subscriber(monkeypatch: pytest.MonkeyPatch) -> type[Subscriber]:
    from google.cloud import pubsub_v1

    Subscriber.pulls = 0
    monkeypatch.setattr(pubsub_v1, "SubscriberClient", Subscriber)
    monkeypatch.setattr(stack_module.time, "sleep", lambda seconds: None)
    return Subscriber


def test_the_awaited_message_ends_the_pulls(subscriber: type[Subscriber], tmp_path: Path) -> None:
    stack = LocalStack(StackConfig(log_dir=tmp_path))
    [(body, attributes)] = stack.finished_messages(timeout=60, finished_id=FINISHED_ID)
    assert attributes["finished_id"] == FINISHED_ID and body == {"dataset": "a"}
    assert subscriber.pulls == 1  # no second pull left to wait out its timeout


def test_without_one_it_pulls_until_the_subscription_is_drained(
    subscriber: type[Subscriber], tmp_path: Path
) -> None:
    stack = LocalStack(StackConfig(log_dir=tmp_path))
    assert len(stack.finished_messages(timeout=60)) == 1
    assert subscriber.pulls == 2


def test_a_stack_removes_the_folder_it_made_unless_it_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(LocalStack, "_start", lambda self: None)
    with LocalStack() as ended:  # nothing started: the folder is all there is
        assert ended.log_dir.name.startswith("codetune-stack-") and ended.log_dir.is_dir()
    assert not ended.log_dir.exists()
    with pytest.raises(RuntimeError), LocalStack() as failed:
        raise RuntimeError("a part failed")
    assert failed.log_dir.is_dir()  # kept: its process logs tell why
    shutil.rmtree(failed.log_dir)

    def fail_to_start(self: LocalStack) -> None:
        raise StackError("process exited with 1 before opening port 1")

    with monkeypatch.context() as patch:
        patch.setattr(LocalStack, "_start", fail_to_start)
        with pytest.raises(StackError) as unstarted, LocalStack():
            pass
    folder = unstarted.value.args[0].rpartition("process logs in ")[2]
    assert folder.startswith(tempfile.gettempdir()) and Path(folder).is_dir()  # kept, named
    shutil.rmtree(folder)
    with pytest.raises(KeyboardInterrupt), LocalStack() as stopped:
        raise KeyboardInterrupt  # a person's stop: nothing would name the folder
    assert not stopped.log_dir.exists()
    with LocalStack(StackConfig(log_dir=tmp_path)) as chosen:
        pass
    assert chosen.log_dir.is_dir()  # the caller's folder is the caller's


def test_the_demo_keeps_its_folder_as_the_stack_keeps_its_own() -> None:
    said: list[str] = []
    with _work_folder(StackConfig(), False, said.append) as ended:
        pass
    with (
        pytest.raises(KeyboardInterrupt),
        _work_folder(StackConfig(), False, said.append) as stopped,
    ):
        raise KeyboardInterrupt
    assert not ended.exists() and not stopped.exists() and said == []
    with pytest.raises(StackError), _work_folder(StackConfig(), False, said.append) as failed:
        raise StackError(f"process exited with 1 before opening port 1; process logs in {failed}")
    assert failed.is_dir() and said == [f"kept the stack's folder {failed}"]
    shutil.rmtree(failed)
    with _work_folder(StackConfig(), True, said.append) as kept:
        pass
    assert kept.is_dir() and said[-1] == f"kept the stack's folder {kept}"
    shutil.rmtree(kept)


def test_a_stack_that_cannot_start_keeps_the_folder_its_error_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fail_to_start(self: LocalStack) -> None:
        raise StackError("process exited with 1 before opening port 1")

    monkeypatch.setattr(LocalStack, "_start", fail_to_start)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    said: list[str] = []
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(StackError) as failed:
            serve(StackConfig(), None, said.append)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    [folder] = tmp_path.glob("codetune-stack-*")
    assert str(failed.value).endswith(f"; process logs in {folder}")
    assert f"kept the stack's folder {folder}" in said


def test_a_process_started_as_a_signal_arrives_is_one_stop_knows_of(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SIGTERM during a start-up ends the command through an exception: raised inside Popen,
    after the fork, it would leave a process nothing stops. It waits until the process is
    recorded."""
    started = SimpleNamespace(pid=-1)

    def popen(*args: Any, **kwargs: Any) -> Any:
        signal.raise_signal(signal.SIGTERM)  # the child exists, Popen has not returned yet
        return started

    def exit_on_signal(number: int, frame: object) -> None:
        raise SystemExit(128 + number)

    monkeypatch.setattr(stack_module.subprocess, "Popen", popen)
    previous = signal.signal(signal.SIGTERM, exit_on_signal)
    try:
        stack = LocalStack(StackConfig(log_dir=tmp_path))
        with pytest.raises(SystemExit) as stopped:
            stack._spawn("validate", ["true"], {})
        assert stopped.value.code == 128 + signal.SIGTERM
        assert stack.processes == {"validate": started}
        assert signal.getsignal(signal.SIGTERM) is exit_on_signal
    finally:
        signal.signal(signal.SIGTERM, previous)
        for log in stack._logs:
            log.close()


def test_the_manifest_pairs_the_evaluation_dataset_beside_it(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("{}\n")
    (tmp_path / "train.tuning.json").write_text('{"evaluation": "held-out/train.eval.jsonl"}')
    (tmp_path / "held-out").mkdir()
    (tmp_path / "held-out" / "train.eval.jsonl").write_text("{}\n")
    said: list[str] = []
    manifest, evaluation = companions(tmp_path / "train.jsonl", "b", said.append)
    assert manifest == Upload(tmp_path / "train.tuning.json", "incoming/train.tuning.json")
    assert evaluation == Upload(
        tmp_path / "held-out" / "train.eval.jsonl", "incoming/held-out/train.eval.jsonl"
    )
    assert said == []


@pytest.mark.parametrize(
    ("evaluation", "why"),
    [
        ("gs://elsewhere/x.eval.jsonl", "gs://elsewhere/x.eval.jsonl is not a file beside it"),
        ("missing.eval.jsonl", "gs://b/incoming/missing.eval.jsonl is not a file beside it"),
    ],
)
def test_an_evaluation_dataset_that_is_not_a_file_beside_it_is_said(
    tmp_path: Path, evaluation: str, why: str
) -> None:
    (tmp_path / "train.jsonl").write_text("{}\n")
    (tmp_path / "train.tuning.json").write_text(orjson.dumps({"evaluation": evaluation}).decode())
    said: list[str] = []
    manifest, found = companions(tmp_path / "train.jsonl", "b", said.append)
    assert manifest is not None and found is None
    assert [why in line for line in said] == [True]


def test_no_manifest_no_companions(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("{}\n")
    assert companions(tmp_path / "train.jsonl", "b", print) == (None, None)
