"""`codetune`: the command line. Each subcommand is a thin shell over the pure core."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import orjson

from shared.dataset import DatasetKind, DatasetRole, ValidationReport, validate_path
from shared.exceptions import PlanRejected
from shared.tuning import DatasetRef, Problem, parse_manifest, plan_from_sources
from shared.tuning import parameters as tuning_parameters

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2  # also argparse's exit status for wrong arguments

_PROGRESS_FROM_BYTES = 8 * 1024 * 1024  # smaller files finish before a bar is worth drawing


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codetune", description="Tune Vertex AI code models from JSONL datasets."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check a JSONL dataset against every tuning rule",
        description="Check a JSONL tuning dataset. Exit status: 0 valid (warnings allowed), "
        "1 invalid, 2 unreadable file or wrong arguments.",
    )
    validate.add_argument("path", metavar="PATH", help="the JSONL dataset")
    validate.add_argument(
        "--kind",
        choices=[kind.value for kind in DatasetKind],
        help="the dataset's kind (default: detected from the first example)",
    )
    validate.add_argument(
        "--evaluation", action="store_true", help="check it as an evaluation dataset (S-5)"
    )
    validate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    validate.set_defaults(handler=_validate)

    plan = commands.add_parser(
        "plan",
        help="build the Vertex AI tuning job request for a dataset, checking every parameter",
        description="Print the pipelineJobs.create request for a dataset, or every rule its "
        "parameters break. Parameters come from CODETUNE_<NAME> environment variables, then the "
        "manifest, then --set. Exit status: 0 planned, 1 rules broken, 2 wrong arguments or "
        "unreadable manifest.",
    )
    plan.add_argument("dataset", metavar="DATASET_URI", help="gs://bucket/name.jsonl[#generation]")
    plan.add_argument("--kind", required=True, choices=[kind.value for kind in DatasetKind])
    plan.add_argument("--examples", required=True, type=int, metavar="N", help="examples in it")
    plan.add_argument("--manifest", metavar="FILE", help="a tuning manifest (JSON)")
    plan.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a parameter; one of: {', '.join(tuning_parameters.NAMES)}",
    )
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(handler=_plan)
    return parser


def _validate(args: argparse.Namespace) -> int:
    kind = DatasetKind(args.kind) if args.kind else None
    role = DatasetRole.EVALUATION if args.evaluation else DatasetRole.TRAINING
    progress = _progress_bar(args.path, sys.stderr) if not args.json else None
    try:
        report = validate_path(args.path, kind, role, progress)
    except OSError as fault:
        message = f"cannot read {args.path}: {fault.strerror or fault}"
        if args.json:
            sys.stdout.write(orjson.dumps({"dataset": args.path, "error": message}).decode() + "\n")
        print(f"codetune: {message}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        if progress is not None:
            progress(-1)
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(summary(report))
    return EXIT_VALID if report.valid else EXIT_INVALID


def _plan(args: argparse.Namespace) -> int:
    dataset = DatasetRef.parse(args.dataset)
    layers: list[tuple[str, dict[str, object]]] = [
        ("environment", dict(tuning_parameters.from_environment(os.environ)))
    ]
    problems: list[Problem] = []
    if args.manifest:
        try:
            with open(args.manifest, "rb") as file:
                manifest, problems = parse_manifest(file.read(), dataset.uri)
        except OSError as fault:
            print(
                f"codetune: cannot read {args.manifest}: {fault.strerror or fault}", file=sys.stderr
            )
            return EXIT_UNREADABLE
        evaluation = {"evaluation_data_uri": manifest.evaluation} if manifest.evaluation else {}
        layers.append(("manifest", {**manifest.parameters, **evaluation}))
    assigned, assignment_problems = tuning_parameters.from_assignments(args.assignments)
    layers.append(("--set", dict(assigned)))
    try:
        result = plan_from_sources(
            dataset, DatasetKind(args.kind), args.examples, layers, problems + assignment_problems
        )
    except PlanRejected as rejected:
        if args.json:
            errors = [problem.to_dict() for problem in rejected.problems]
            sys.stdout.write(
                orjson.dumps({"errors": errors}, option=orjson.OPT_INDENT_2).decode() + "\n"
            )
        else:
            print(f"{args.dataset}: cannot tune, {len(rejected.problems)} problem(s):")
            for problem in rejected.problems:
                print(f"  {problem.parameter} [{problem.rule}] {problem.message}")
        return EXIT_INVALID
    if args.json:
        sys.stdout.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        derived = result.derived
        print(f"{result.method} {result.url}")
        print(orjson.dumps(result.body, option=orjson.OPT_INDENT_2).decode())
        print(
            f"template {derived.template}\ntuning in {derived.tuning_region}, batch size "
            f"{derived.batch_size}, {derived.epochs} epochs"
        )
        for warning in result.warnings:
            print(f"warning: {warning}")
    return EXIT_VALID


def summary(report: ValidationReport) -> str:
    """The short report a person reads on a terminal."""
    verdict = "valid" if report.valid else "INVALID"
    kind = report.kind or "unknown kind"
    lines = [
        f"{report.dataset}: {verdict} {kind} {report.role} dataset, {report.examples:,} examples",
    ]
    for title, findings in (("error", report.errors), ("warning", report.warnings)):
        if not findings:
            continue
        counts = ", ".join(f"{rule} x{n:,}" for rule, n in sorted(findings.counts.items()))
        lines.append(f"{findings.total:,} {title}(s): {counts}")
        for finding in sorted(findings.listed, key=lambda f: f.line or 0):
            where = f"line {finding.line}" if finding.line else "file"
            if finding.field:
                where += f", {finding.field}"
            lines.append(f"  {where} [{finding.rule}] {finding.message}")
        if findings.omitted:
            lines.append(f"  ... and {findings.omitted:,} more (see --json for counts per rule)")
    stats = report.stats
    if report.examples:
        tokens = stats["estimated_tokens"]
        lines.append(
            f"prompts ~{tokens['prompt']['mean']:,} tokens on average (max ~{tokens['prompt']['max']:,}), "
            f"responses ~{tokens['response']['mean']:,} (max ~{tokens['response']['max']:,}); "
            "token counts are estimates"
        )
    return "\n".join(lines) + "\n"


def _progress_bar(path: str, out: TextIO) -> Callable[[int], None] | None:
    """A progress callback that draws a bar on a terminal, for files large enough to wait on."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if not out.isatty() or size < _PROGRESS_FROM_BYTES:
        return None
    started = time.monotonic()
    last_drawn = 0.0

    def draw(done: int) -> None:
        nonlocal last_drawn
        if done < 0:  # finished: clear the bar
            out.write("\r\033[K")
            out.flush()
            return
        now = time.monotonic()
        if now - last_drawn < 0.1 and done < size:
            return
        last_drawn = now
        fraction = min(done / size, 1.0)
        rate = done / max(now - started, 1e-6) / 1e6
        bar = "#" * int(fraction * 30)
        out.write(f"\r[{bar:<30}] {fraction:6.1%} {rate:6.1f} MB/s")
        out.flush()

    return draw


if __name__ == "__main__":
    sys.exit(main())
