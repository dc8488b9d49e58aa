"""`codetune stack`: the local stack, left running for a person (or a test) to use with the
command line: once everything is ready it writes the environment that points `status`, `runs`,
`cancel`, `logs` at it (KEY=VALUE lines, `--env-file`), prints the same, and runs until
interrupted (SIGINT, SIGTERM), then stops every process it started."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from codetune.local.logging_standin import LoggingStandIn
from codetune.local.stack import (
    VALIDATED_TOPIC,
    LocalStack,
    StackConfig,
    StackError,
    remove_unless_failed,
)

Say = Callable[[str], None]


class LiveLogs(LoggingStandIn):
    """Cloud Logging's entries.list over what the stack's functions have written so far to
    their log files (read again at each request), so that `codetune logs DATASET_URI` reads
    the local stack as it reads a deployment."""

    def __init__(self, project: str, folder: Path) -> None:
        super().__init__(project)
        self.folder = folder
        self._lock = threading.Lock()

    def handle(self, path: str, raw: bytes) -> tuple[int, Any]:
        with self._lock:
            self.entries = []
            for log in sorted(self.folder.glob("*.log")):
                text = log.read_bytes()
                complete = text[: text.rfind(b"\n") + 1]  # a line being written waits
                self.from_structured_lines(complete.splitlines(), log.stem)
            return super().handle(path, raw)


def environment(stack: LocalStack, logs: LoggingStandIn) -> dict[str, str]:
    """What the command line reads to reach this stack as it reaches a deployment."""
    assert stack.vertex is not None
    config = stack.config
    return {
        **stack.env,  # PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST
        "CODETUNE_PROJECT": config.project,
        "CODETUNE_BUCKET": config.bucket,
        "CODETUNE_STATE_BUCKET": stack.state_bucket,
        "CODETUNE_VALIDATED_TOPIC": VALIDATED_TOPIC,  # where `codetune cancel` asks
        "CODETUNE_REGION": config.pipeline_region,
        "CODETUNE_VERTEX_ENDPOINT": stack.vertex.url,  # honoured for a loopback host only
        "CODETUNE_LOGGING_ENDPOINT": logs.url,
    }


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """KEY=VALUE lines, whole or not at all: whoever waits for the file never reads half."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    partial.replace(path)


def serve(config: StackConfig, env_file: Path | None, say: Say, keep: bool = False) -> int:
    """Run the stack until SIGINT or SIGTERM; 0 once every process it started is stopped."""
    folder = Path(tempfile.mkdtemp(prefix="codetune-stack-"))
    config = msgspec.structs.replace(config, log_dir=folder)
    # Started in the background by a shell, a command inherits SIGINT ignored: it is asked
    # to stop all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    say("starting the local stack ...")
    stack = LocalStack(config)
    logs: LiveLogs | None = None
    failure: type[BaseException] | None = None
    try:
        stack.start()
        logs = LiveLogs(config.project, folder).start()
        env = environment(stack, logs)
        if env_file is not None:
            write_env_file(env_file, env)
        _tell(env, env_file, stack, folder, say)
        threading.Event().wait()  # until a signal ends it
    except (KeyboardInterrupt, SystemExit):
        pass
    except Exception as error:
        failure = type(error)
        raise
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):  # stopping is not interrupted
            signal.signal(number, signal.SIG_IGN)
        if logs is not None:
            logs.stop()
        stack.stop()
        if env_file is not None:
            env_file.unlink(missing_ok=True)  # it points at ports nothing listens on now
        if keep or not remove_unless_failed(folder, failure):
            say(f"kept the stack's folder {folder}")
    say("stopped every process the stack started")
    return 0


def _tell(
    env: dict[str, str], env_file: Path | None, stack: LocalStack, folder: Path, say: Say
) -> None:
    bucket = stack.config.bucket
    say("the local stack is ready; point the command line at it with:")
    for key, value in env.items():
        say(f"  export {key}={value}")
    if env_file is not None:
        say(f"(also in {env_file}: set -a; . {env_file}; set +a)")
    say(
        f"drop a dataset (fake-gcs-server's upload API):\n"
        f"  curl --data-binary @examples/code-generation.jsonl "
        f"'{env['STORAGE_EMULATOR_HOST']}/upload/storage/v1/b/{bucket}/o?uploadType=media"
        f"&name=incoming/code-generation.jsonl'\n"
        f"then: codetune runs | codetune status gs://{bucket}/incoming/code-generation.jsonl "
        f"--follow | codetune cancel gs://{bucket}/incoming/code-generation.jsonl | "
        f"codetune logs gs://{bucket}/incoming/code-generation.jsonl\n"
        f"process logs in {folder} (codetune logs DATASET_URI --local {folder})\n"
        f"Ctrl-C stops it"
    )


def command(args: argparse.Namespace) -> int:
    """The command's handler (codetune.local.commands adds its parser)."""
    env_file = Path(args.env_file) if args.env_file else None
    if env_file is not None and not env_file.parent.is_dir():
        print(f"codetune: cannot write {env_file}: no folder {env_file.parent}", file=sys.stderr)
        return 2
    config = StackConfig(step_seconds=args.step_seconds)
    try:
        return serve(config, env_file, lambda line: print(line, flush=True), keep=args.keep)
    except StackError as fault:
        print(f"codetune: the local stack failed: {fault}", file=sys.stderr)
        return 1
