"""What the commands share: exit statuses, reading local files, and the parameter sources of a
local dataset as the validate function resolves them in the bucket."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

import msgspec
import orjson

from codetune.config import UPLOAD_PREFIX
from codetune.dataset import RuleSet
from codetune.tuning import parameters
from codetune.tuning.backends import known_models, resolve_base_model, rules_for
from codetune.tuning.manifest import (
    MAX_MANIFEST_BYTES,
    manifest_name,
    training_name,
)
from codetune.tuning.parameters import Problem
from codetune.tuning.sources import Source, parameter_sources

Commands = argparse._SubParsersAction  # what each command module adds its parser to
LOCAL_BUCKET = "codetune-local"  # the bucket a local dataset's manifest is read as beside
MAX_REPORT_BYTES = 64 * 1024 * 1024  # a report lists 100 findings: far less than this
EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2  # also argparse's exit status for wrong arguments
COMMANDS_GROUP = "codetune.commands"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def regular_file(path: str) -> str | None:
    """Why `path` cannot be read as a file (a folder, /dev/zero, a FIFO, missing), or None.
    Asked before opening: reading a device or a FIFO may never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as fault:
        return f"cannot read {path}: {fault.strerror or fault}"
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        return f"cannot read {path}: {kind}; give a file"
    return None


def read_file(path: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (OSError, with why, otherwise)."""
    problem = regular_file(path)
    if problem is not None:
        raise OSError(problem.removeprefix(f"cannot read {path}: "))
    with open(path, "rb") as stream:
        return stream.read(limit + 1)


def manifest_of(path: str, given: str | None) -> tuple[str | None, bytes | None]:
    """The manifest to check with a dataset: the one given, else `NAME.tuning.json` beside it
    (an evaluation dataset's is its training dataset's), as the validate function reads it
    from the bucket. OSError if the one given (or the one beside) cannot be read."""
    name = given or manifest_name(training_name(path))
    if given is None and not os.path.lexists(name):
        return None, None
    return name, read_file(name, MAX_MANIFEST_BYTES)


def unreadable(path: str, message: str, as_json: bool) -> int:
    """A file that cannot be read: one line (and with --json, an object), exit status 2."""
    if as_json:
        sys.stdout.write(orjson.dumps({"dataset": path, "error": message}).decode() + "\n")
    print(f"codetune: {message}", file=sys.stderr)
    return EXIT_UNREADABLE


class Local(msgspec.Struct, frozen=True):
    """A local dataset's parameter sources, as if it were in the upload folder."""

    uri: str  # gs://codetune-local/<upload prefix><file name>
    sources: list[Source]
    problems: list[Problem]  # the manifest's, as the validate function reports them
    rules: RuleSet  # of the base model they resolve to


def local_sources(
    path: str, manifest: str | None, assignments: list[str], base_model: str | None, as_json: bool
) -> Local | int:
    """The sources as the validate function resolves them: the deployment's defaults (this
    shell's CODETUNE_*) < the manifest (given, or beside the dataset); then --set and
    --base-model, as a deployment would set them. An exit status when they cannot be read."""
    try:
        _, document = manifest_of(path, manifest)
    except OSError as fault:
        name = manifest or manifest_name(training_name(path))
        return unreadable(
            name, f"cannot read the manifest {name}: {fault.strerror or fault}", as_json
        )
    prefix = os.environ.get("CODETUNE_UPLOAD_PREFIX", UPLOAD_PREFIX)
    uri = f"gs://{LOCAL_BUCKET}/{prefix}{Path(path).name}"
    sources, problems = parameter_sources(os.environ, uri, document)
    model_set = [f"large_model_reference={base_model}"] if base_model else []
    assigned, wrong = parameters.from_assignments([*assignments, *model_set])
    for problem in wrong:
        print(f"codetune: --set {problem.parameter}: {problem.message}", file=sys.stderr)
    if wrong:
        return EXIT_UNREADABLE
    if assigned:
        sources.append(("--set", dict(assigned)))
    model = resolve_base_model(sources)
    rules = rules_for(model)
    if rules is None:
        print(
            f"codetune: unknown base model {model}; use one of {', '.join(known_models())}",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    return Local(uri, sources, problems, rules)
