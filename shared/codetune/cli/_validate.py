"""`codetune validate`: every rule of a dataset, and all tune would refuse before a job."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import orjson

from codetune.app.admission import report_problems
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
from codetune.config import allowed_base_models
from codetune.dataset import (
    DatasetFormat,
    DatasetKind,
    DatasetRole,
    SecretSeverity,
    ValidationReport,
    validate_path,
)
from codetune.dataset.checks import ExampleCheck
from codetune.dataset.near import NearDuplicates
from codetune.dataset.overlap import TrainingOverlap, index_evaluation
from codetune.dataset.tokens import SentencePiece
from codetune.tuning import budget
from codetune.tuning import parameters as tuning_parameters
from codetune.tuning.common import DatasetRef
from codetune.tuning.manifest import (
    EVALUATION_SUFFIX,
)
from codetune.tuning.sources import layer_strings

_PROGRESS_FROM_BYTES = 8 * 1024 * 1024  # smaller files finish before a bar is worth drawing


def add(commands: Commands) -> None:
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
        "--evaluation",
        action="store_true",
        help="check it as an evaluation dataset (S-5); a *.eval.jsonl always is, as in the bucket",
    )
    validate.add_argument(
        "--format",
        choices=[f.value for f in DatasetFormat],
        help="the examples' format: seed (Google's code-bison formats), gemini, openai "
        "(default: detected from the first example)",
    )
    validate.add_argument(
        "--base-model",
        help="check it for this base model's rules (default: the manifest's "
        "large_model_reference, else $CODETUNE_LARGE_MODEL_REFERENCE, else gemini-3.5-flash)",
    )
    validate.add_argument(
        "--manifest",
        metavar="FILE",
        help="the tuning manifest, checked as the validate function checks it: its secrets, "
        "repeated keys and parameters, its base model's rules (default: NAME.tuning.json beside "
        "PATH, if there is one, as in the bucket)",
    )
    validate.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter, as the deployment would set it (as for plan): the model's limits, "
        "region and budget are checked with it",
    )
    validate.add_argument(
        "--eval",
        dest="evaluation_path",
        metavar="EVAL",
        help="the evaluation dataset paired with PATH: it is validated as one, and every one of "
        "its examples that is also in PATH is an error (rule overlap)",
    )
    validate.add_argument(
        "--secrets",
        choices=[s.value for s in SecretSeverity],
        default=os.environ.get("CODETUNE_SECRETS") or SecretSeverity.ERROR.value,
        help="a credential in an example is an error (the default, or $CODETUNE_SECRETS), a "
        "warning, or not looked for (off)",
    )
    validate.add_argument(
        "--near-duplicates",
        action="store_true",
        help="also warn about examples nearly the same as another, and (with --eval) training "
        "examples nearly the same as an evaluation example (slower: MinHash of every example)",
    )
    validate.add_argument(
        "--tokenizer",
        metavar="MODEL",
        default=os.environ.get("CODETUNE_TOKENIZER_MODEL"),
        help="a SentencePiece model file of the base model's tokenizer: exact token counts "
        "(default: $CODETUNE_TOKENIZER_MODEL, else estimated as characters / 4)",
    )
    validate.add_argument(
        "--html",
        metavar="FILE",
        help="also write the report as a self-contained page to look at (training's, with --eval)",
    )
    validate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    validate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # As the validate function: a *.eval.jsonl is an evaluation dataset, flag or not.
    evaluation = args.evaluation or args.path.lower().endswith(EVALUATION_SUFFIX)
    role = DatasetRole.EVALUATION if evaluation else DatasetRole.TRAINING
    for path in (args.path, args.evaluation_path):
        problem = regular_file(path) if path else None
        if problem is not None:
            return unreadable(path, problem, args.json)
    local = local_sources(args.path, args.manifest, args.assignments, args.base_model, args.json)
    if isinstance(local, int):
        return local
    if args.evaluation_path and role is DatasetRole.EVALUATION:
        print("codetune: --eval pairs an evaluation dataset with a training one", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        counter = SentencePiece(args.tokenizer) if args.tokenizer else None
    except (OSError, RuntimeError) as fault:
        print(f"codetune: cannot load the tokenizer {args.tokenizer}: {fault}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        reports = _reports(args, role, local, counter)
    except _Unreadable as fault:
        return unreadable(fault.path, str(fault), args.json)
    if role is DatasetRole.TRAINING:
        _admit(reports, local)
    if args.html and not _page(args.html, reports[0], local):
        return EXIT_UNREADABLE
    if args.json:
        # One report as before; a pair as {"training": ..., "evaluation": ...}.
        shown = (
            {"training": reports[0].to_dict(), "evaluation": reports[1].to_dict()}
            if len(reports) == 2
            else reports[0].to_dict()
        )
        sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write("".join(summary(report) for report in reports))
    return EXIT_VALID if all(report.valid for report in reports) else EXIT_INVALID


class _Unreadable(Exception):
    def __init__(self, path: str, fault: OSError) -> None:
        super().__init__(f"cannot read {path}: {fault.strerror or fault}")
        self.path = path


def _reports(
    args: argparse.Namespace, role: DatasetRole, local: Local, counter: SentencePiece | None
) -> list[ValidationReport]:
    """The dataset's report, and with --eval the evaluation dataset's after it."""
    secrets = SecretSeverity(args.secrets)
    reports: list[ValidationReport] = []
    checks: list[ExampleCheck] = [NearDuplicates()] if args.near_duplicates else []
    if args.evaluation_path:
        try:
            with open(args.evaluation_path, "rb") as stream:
                evaluation, index = index_evaluation(
                    stream,
                    args.evaluation_path,
                    rules=local.rules,
                    secrets=secrets,
                    near=args.near_duplicates,
                )
        except OSError as fault:
            raise _Unreadable(args.evaluation_path, fault) from fault
        reports.append(evaluation)
        checks.append(TrainingOverlap(index))
    progress = _progress_bar(args.path, sys.stderr) if not args.json else None
    try:
        report = validate_path(
            args.path,
            DatasetKind(args.kind) if args.kind else None,
            role,
            progress,
            rules=local.rules,
            format=DatasetFormat(args.format) if args.format else None,
            checks=checks,
            secrets=secrets,
            tokenizer=counter,
            beside=layer_strings(local.sources),
        )
    except OSError as fault:
        raise _Unreadable(args.path, fault) from fault
    finally:
        if progress is not None:
            progress(-1)
    return [report, *reports]


def _admit(reports: list[ValidationReport], local: Local) -> None:
    """As the validate function: what tune would refuse before any job is the report's."""
    checked = report_problems(
        DatasetRef(local.uri),
        reports[0],
        local.sources,
        local.problems,
        allowed_base_models(os.environ),
        os.environ.get("CODETUNE_STATE_BUCKET") or None,
        evaluation_examples=reports[1].examples if len(reports) == 2 else None,
        away=True,
    )
    for finding in checked.errors:
        reports[0].errors.add(finding)
    if checked.not_checked:
        names = sorted(_SHOWN.get(name, name) for name in checked.not_checked)
        print(
            f"codetune: not checked without the deployment's {', '.join(names)} (set "
            + ", ".join(f"CODETUNE_{name.upper()}" for name in names)
            + ", or --set NAME=VALUE)",
            file=sys.stderr,
        )


_SHOWN = {"pipeline_region": "region"}  # the name a user sets (CODETUNE_REGION)


def _page(path: str, report: ValidationReport, local: Local) -> bool:
    """The report as a page, with the cost at the parameters in force; False if unwritable."""
    from codetune.dataset.html import render

    limits, _ = tuning_parameters.resolve(local.sources)
    cost = budget.for_report(report.stats["tokens"], limits, local.rules.base_model)
    try:
        Path(path).write_text(render(report, cost.to_dict()), encoding="utf-8")
    except OSError as fault:
        print(f"codetune: cannot write {path}: {fault.strerror or fault}", file=sys.stderr)
        return False
    return True


def summary(report: ValidationReport) -> str:
    """The short report a person reads on a terminal."""
    verdict = "valid" if report.valid else "INVALID"
    kind = report.kind or "unknown kind"
    lines = [
        f"{report.dataset}: {verdict} {kind} {report.role} dataset, {report.examples:,} examples"
        f" in the {report.format} format (rules of {report.rules.base_model})",
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
        lines.append(_token_line(stats))
    overlap = stats.get("overlap")
    if overlap:
        lines.append(
            f"{overlap['training_examples_in_evaluation']:,} training example(s) also in the "
            f"evaluation dataset {overlap['evaluation_dataset']} "
            f"({overlap['evaluation_examples']:,} examples)"
        )
    return "\n".join(lines) + "\n"


def _token_line(stats: dict[str, Any]) -> str:
    """Prompt and response tokens and an epoch's, saying how they were counted."""
    tokens = stats.get("tokens") or {"method": "estimate", **stats["estimated_tokens"]}
    about = "" if tokens.get("exact") else "~"
    prompt, response = tokens["prompt"], tokens["response"]
    text = (
        f"prompts {about}{prompt['mean']:,} tokens on average (max {about}{prompt['max']:,}), "
        f"responses {about}{response['mean']:,} (max {about}{response['max']:,})"
    )
    if "per_epoch" in tokens:
        text += f", {about}{tokens['per_epoch']:,} an epoch"
    if tokens.get("exact"):
        return f"{text}; counted by {tokens['method']}"
    return f"{text}; {tokens['method']} (give --tokenizer MODEL for exact counts)"


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
