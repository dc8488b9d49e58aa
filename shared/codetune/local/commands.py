"""The local stack's commands, `codetune demo`, `codetune chaos` and `codetune stack` (entry points of the
"codetune.commands" group). Their parsers cost nothing to add: the stack and what it needs
(the `local` extra: emulators' clients, schemas) are imported when one runs, so that a base
install runs every other command and these say which extra to install."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

Commands = argparse._SubParsersAction
EXTRA = "pip install 'codetune[local]'"


def _handler(name: str, module_name: str | None = None) -> Callable[[argparse.Namespace], int]:
    """`codetune NAME`, run by codetune.local.MODULE_NAME's `command` (NAME's by default)."""

    def run(args: argparse.Namespace) -> int:
        try:
            module = importlib.import_module(f"codetune.local.{module_name or name}")
        except ModuleNotFoundError as missing:
            print(
                f"codetune: `codetune {name}` needs the local stack's packages ({missing.name} is "
                f"not installed): {EXTRA}",
                file=sys.stderr,
            )
            return 2
        command: Callable[[argparse.Namespace], int] = module.command
        return command(args)

    return run


def seconds(text: str) -> float:
    """A positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def demo(commands: Commands) -> None:
    """Add `codetune demo` (entry point "codetune.commands": demo)."""
    demo = commands.add_parser(
        "demo",
        help="run the whole chain locally on emulators and stand-ins",
        description="Start the local stack, drop DATASET into its bucket, show each step, print "
        "the tuned model's name, stop everything. With the manifest beside DATASET "
        "(NAME.tuning.json) it uploads that too, and the evaluation dataset it pairs. Exit "
        "status 0 with a tuned model, 1 otherwise.",
    )
    demo.add_argument(
        "dataset", metavar="DATASET", nargs="?", help="a JSONL dataset (default: a shipped example)"
    )
    demo.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for the chain (default 120)"
    )
    demo.add_argument(
        "--base-model",
        help="the base model to tune, e.g. code-bison@002 for the legacy pipeline (default: the deployment default, else gemini-3.5-flash)",
    )
    demo.add_argument(
        "--step-seconds",
        type=seconds,
        default=1.0,
        metavar="S",
        help="how long a stand-in job stays in each state (default 1): time to watch its progress",
    )
    demo.add_argument(
        "--no-manifest",
        action="store_true",
        help="drop the dataset alone, without the manifest beside it and its evaluation dataset "
        "(the shipped manifest sets Gemini's epoch_count, which the code-bison pipeline refuses)",
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default="codetune-demo",
        help="where to copy the reports, pages, final record and logs (default ./codetune-demo)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the stack's temporary folder (codetune-stack-*) instead of removing it",
    )
    demo.set_defaults(handler=_handler("demo"))


def chaos(commands: Commands) -> None:
    """Add `codetune chaos` (entry point "codetune.commands": chaos)."""
    chaos = commands.add_parser(
        "chaos",
        help="run the chain on the local stack with faults injected at random",
        description="Drop N datasets into the local stack while faults are injected from SEED; "
        "print one JSON summary. Exit 0 only if nothing is lost, duplicated or tuned on data "
        "that was not validated.",
    )
    chaos.add_argument("--datasets", type=int, default=20, metavar="N")
    chaos.add_argument("--seed", type=int, default=1)
    chaos.add_argument("--base-model", help="e.g. code-bison@002 (default: the default model)")
    chaos.add_argument("--timeout", type=float, default=300)
    chaos.add_argument("--json", action="store_true", help="print only the JSON summary")
    chaos.set_defaults(handler=_handler("chaos"))


def stack(commands: Commands) -> None:
    """Add `codetune stack` (entry point "codetune.commands": stack)."""
    stack = commands.add_parser(
        "stack",
        help="start the local stack and leave it running for the other commands",
        description="Start the local stack (emulators, the five functions, the stand-ins), write "
        "the environment that points status, runs, cancel and logs at it to FILE once it is "
        "ready (KEY=VALUE lines), print the same, and run until interrupted (Ctrl-C, SIGTERM); "
        "then stop every process it started and remove FILE. Exit status 0, 1 when the stack "
        "cannot start.",
    )
    stack.add_argument("--env-file", metavar="FILE", help="where to write the environment")
    stack.add_argument(
        "--step-seconds",
        type=seconds,
        default=5.0,
        metavar="S",
        help="how long a stand-in job stays in each state (default 5): time to watch and cancel",
    )
    stack.add_argument(
        "--keep",
        action="store_true",
        help="keep the stack's temporary folder (codetune-stack-*: process logs) when it stops",
    )
    stack.set_defaults(handler=_handler("stack", "serve"))
