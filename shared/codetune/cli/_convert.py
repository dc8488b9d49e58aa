"""`codetune convert`: a valid dataset in another format, as tune converts it for Gemini."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from codetune.cli._common import (
    EXIT_INVALID,
    EXIT_UNREADABLE,
    EXIT_VALID,
    Commands,
    Local,
    local_sources,
    regular_file,
    unreadable,
)
from codetune.dataset import DatasetFormat, DatasetKind, DatasetRole, validate_path
from codetune.dataset.lines import read_lines
from codetune.dataset.rules import MAX_LINE_BYTES
from codetune.gemini import models
from codetune.gemini.check import convert_and_check
from codetune.gemini.convert import convert_example
from codetune.gemini.export import NotExpressible, from_gemini
from codetune.tuning.manifest import DATASET_SUFFIX, EVALUATION_SUFFIX
from codetune.tuning.parameters import resolve


def add(commands: Commands) -> None:
    convert = commands.add_parser(
        "convert",
        help="write a valid dataset in Gemini's, OpenAI's or the seed's format",
        description="Validate PATH (as `codetune validate` does), then write it in another "
        "format: --to gemini writes exactly the file tune gives a Gemini job (the "
        "default_context in force included, checked against the model's limits). Nothing is "
        "written for an invalid dataset. Exit status: 0 written, 1 invalid or not convertible, "
        "2 unreadable file, existing output or wrong arguments.",
    )
    convert.add_argument("path", metavar="PATH", help="the JSONL dataset")
    convert.add_argument("--to", required=True, choices=[f.value for f in DatasetFormat])
    convert.add_argument(
        "--out",
        metavar="FILE",
        help="where to write (default: NAME.<format>.jsonl beside PATH, NAME.<format>.eval.jsonl "
        "for an evaluation dataset)",
    )
    convert.add_argument("--force", action="store_true", help="replace FILE if it exists")
    convert.add_argument("--manifest", metavar="FILE", help="as for validate")
    convert.add_argument("--base-model", help="as for validate")
    convert.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE"
    )
    convert.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    problem = regular_file(args.path)
    if problem is not None:
        return unreadable(args.path, problem, False)
    target = DatasetFormat(args.to)
    out = Path(args.out) if args.out else converted_path(Path(args.path), target)
    if out.resolve() == Path(args.path).resolve() or (out.exists() and not args.force):
        print(f"codetune: {out} exists: give --force to replace it", file=sys.stderr)
        return EXIT_UNREADABLE
    local = local_sources(args.path, args.manifest, args.assignments, args.base_model, False)
    if isinstance(local, int):
        return local
    evaluation = args.path.lower().endswith(EVALUATION_SUFFIX)
    role = DatasetRole.EVALUATION if evaluation else DatasetRole.TRAINING
    report = validate_path(args.path, None, role, rules=local.rules)
    if not report.valid or report.kind is None:
        from codetune.cli._validate import summary

        sys.stderr.write(summary(report))
        print(f"codetune: {args.path} is not valid: nothing written", file=sys.stderr)
        return EXIT_INVALID
    return _write(args.path, out, target, report.kind, DatasetFormat(report.format), role, local)


def converted_path(path: Path, target: DatasetFormat) -> Path:
    name = path.name
    for suffix in (EVALUATION_SUFFIX, DATASET_SUFFIX):
        if name.lower().endswith(suffix):
            return path.with_name(f"{name[: -len(suffix)]}.{target}{suffix}")
    return path.with_name(f"{name}.{target}{DATASET_SUFFIX}")


def _write(
    path: str,
    out: Path,
    target: DatasetFormat,
    kind: DatasetKind,
    form: DatasetFormat,
    role: DatasetRole,
    local: Local,
) -> int:
    """Convert to a file beside `out`, then rename it: never a half-written dataset."""
    context = resolve(local.sources)[0].default_context
    partial = out.with_name(f".{out.name}.partial")
    try:
        with open(path, "rb") as source, open(partial, "wb") as sink:
            lines = (bytes(line) for _, line in read_lines(source, MAX_LINE_BYTES) if line)
            failure = _convert(lines, sink.write, target, kind, form, role, context, local)
        if failure is not None:
            print(f"codetune: {failure}: nothing written", file=sys.stderr)
            return EXIT_INVALID
        os.replace(partial, out)
    except OSError as fault:
        print(f"codetune: cannot write {out}: {fault.strerror or fault}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        partial.unlink(missing_ok=True)
    print(f"wrote {out} ({target} format)")
    return EXIT_VALID


def _convert(
    lines: Iterator[bytes],
    write: Callable[[bytes], object],
    target: DatasetFormat,
    kind: DatasetKind,
    form: DatasetFormat,
    role: DatasetRole,
    context: str | None,
    local: Local,
) -> str | None:
    """Write every example in `target`; why it cannot be, or None."""
    if target is DatasetFormat.GEMINI:
        model = models.GEMINI_MODELS.get(local.rules.base_model)
        result = convert_and_check(lines, write, kind, role, context, model, form)
        if result.valid:
            return None
        first = result.errors.listed[0]
        where = f"line {first.line}: " if first.line else ""
        return f"{where}{first.message} [{first.rule}] (converted for Gemini)"
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        example = convert_example(orjson.loads(line), kind, context, form)
        try:
            write(orjson.dumps(from_gemini(example, target, kind)) + b"\n")
        except NotExpressible as fault:
            return f"line {number}: {fault} (a default_context is set)"
    return None
