"""`codetune`: the command line, one module a command, each a thin shell over the application
layer (the commands of the installed extras come as entry points: `demo`, `chaos`)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from codetune.cli import _cloud, _convert, _plan, _report, _validate
from codetune.cli._common import COMMANDS_GROUP, EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Every command; Ctrl-C ends any of them with one line and exit status 130, never a
    traceback (a command still leaves through its `with` blocks first: `codetune demo` and
    `codetune chaos` stop every process of the local stack)."""
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        # Stopped by a signal, a command leaves through its `with` blocks the same way.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        return handler(args)
    except KeyboardInterrupt:
        print("codetune: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _exit_on_signal(number: int, frame: object) -> None:
    raise SystemExit(128 + number)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codetune", description="Tune Vertex AI code models from JSONL datasets."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_validate, _convert, _plan, _cloud, _report):
        module.add(commands)
    # Commands of the installed extras (e.g. `demo`, from codetune.local): entry points in the
    # "codetune.commands" group, each a function that adds its subparser.
    for command in sorted(metadata.entry_points(group=COMMANDS_GROUP), key=lambda c: c.name):
        command.load()(commands)
    return parser
