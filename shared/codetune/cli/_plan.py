"""`codetune plan`: the request tune would send for a dataset, or every rule it breaks."""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from codetune.app.admission import admit
from codetune.cli._common import (
    EXIT_INVALID,
    EXIT_UNREADABLE,
    EXIT_VALID,
    MAX_REPORT_BYTES,
    Commands,
    read_file,
)
from codetune.cli._plan_evaluation import Unreadable, shown_evaluation
from codetune.config import allowed_base_models
from codetune.dataset import (
    DatasetFormat,
    DatasetKind,
)
from codetune.exceptions import PlanRejected
from codetune.state.records import Tokens
from codetune.tuning import parameters as tuning_parameters
from codetune.tuning.common import DatasetRef
from codetune.tuning.manifest import (
    MAX_MANIFEST_BYTES,
)
from codetune.tuning.sources import parameter_sources


def add(commands: Commands) -> None:
    plan = commands.add_parser(
        "plan",
        help="build the Vertex AI tuning job request for a dataset, checking every parameter",
        description="Print the request tune would send for a dataset (tuningJobs.create for a "
        "Gemini model, pipelineJobs.create for the legacy code-bison pipeline), or every rule "
        "it breaks. Parameters come from CODETUNE_<NAME> environment variables, then the "
        "manifest, then --set. Exit status: 0 planned, 1 rules broken, 2 wrong arguments or "
        "unreadable manifest.",
    )
    plan.add_argument("dataset", metavar="DATASET_URI", help="gs://bucket/name.jsonl[#generation]")
    plan.add_argument("--kind", choices=[kind.value for kind in DatasetKind])
    plan.add_argument("--examples", type=int, metavar="N", help="examples in it")
    plan.add_argument(
        "--report",
        metavar="REPORT.json",
        help="a validation report (codetune validate --json, or the *.report.json beside an "
        "upload): its kind, examples, format and tokens, for the training tokens, the cost and "
        "the deployment's budget (instead of --kind and --examples)",
    )
    plan.add_argument(
        "--format",
        choices=[f.value for f in DatasetFormat],
        help="the examples' format, as validate reports it (default: the report's, else seed)",
    )
    plan.add_argument("--manifest", metavar="FILE", help="a tuning manifest (JSON)")
    plan.add_argument(
        "--eval",
        dest="evaluation_path",
        metavar="EVAL",
        help="a local copy of the evaluation dataset the plan names (as validated): the "
        "evaluation after a Gemini job is counted on its first examples, as tune counts them, "
        "for its tokens, its cost and the budget",
    )
    plan.add_argument(
        "--eval-format",
        choices=[f.value for f in DatasetFormat],
        help="the evaluation dataset's format (default: the dataset's)",
    )
    plan.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a parameter; one of: {', '.join(tuning_parameters.NAMES)}",
    )
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    dataset = DatasetRef.parse(args.dataset)
    tokens = None
    if args.report:
        try:
            report = orjson.loads(read_file(args.report, MAX_REPORT_BYTES))
            args.kind, args.examples = report["kind"], report["examples"]
            args.format = args.format or report.get("format")
            tokens = Tokens.of(report["stats"].get("tokens"))
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as fault:
            print(f"codetune: cannot read the report {args.report}: {fault}", file=sys.stderr)
            return EXIT_UNREADABLE
    if args.kind is None or args.examples is None:
        print("codetune: plan needs --report, or --kind and --examples", file=sys.stderr)
        return EXIT_UNREADABLE
    manifest = None
    if args.manifest:
        try:
            manifest = read_file(args.manifest, MAX_MANIFEST_BYTES)
        except OSError as fault:
            print(
                f"codetune: cannot read {args.manifest}: {fault.strerror or fault}", file=sys.stderr
            )
            return EXIT_UNREADABLE
    layers, problems = parameter_sources(
        os.environ, dataset.uri, manifest, assignments=args.assignments
    )
    budgets = ("max_training_tokens", "max_cost")
    unchecked = tokens is None and any(name in values for _, values in layers for name in budgets)
    if unchecked:  # no tokens to hold to it: said below, never refused for it
        layers = [
            (o, {k: v for k, v in values.items() if k not in budgets}) for o, values in layers
        ]
    try:
        # As tune admits it: the deployment's base models, the model's formats, and the
        # budget on the most the job trains on (the default_context in every example).
        admitted = admit(
            dataset,
            DatasetKind(args.kind),
            DatasetFormat(args.format or DatasetFormat.SEED),
            args.examples,
            tokens,
            layers,
            problems,
            allowed_base_models(os.environ),
            os.environ.get("CODETUNE_STATE_BUCKET") or None,
        )
        admitted.budget(None)
        form = DatasetFormat(args.eval_format or args.format or DatasetFormat.SEED)
        shown = shown_evaluation(
            admitted, args.evaluation_path, form, DatasetKind(args.kind), os.environ
        )
        result, spend = admitted.plan, admitted.budget.spend
    except Unreadable as fault:
        print(f"codetune: {fault}", file=sys.stderr)
        return EXIT_UNREADABLE
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
        # With a report, the training tokens and the cost beside the request.
        document = {
            **result.to_dict(),
            **({"cost": spend.to_dict()} if tokens is not None else {}),
            **({"evaluation": shown.document} if shown is not None else {}),
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        derived = result.derived
        print(f"{result.method} {result.url}")
        print(orjson.dumps(result.body, option=orjson.OPT_INDENT_2).decode())
        if derived.template:
            print(f"template {derived.template}")
        batch = f", batch size {derived.batch_size}" if derived.batch_size else ""
        epochs = derived.epochs if derived.epochs is not None else "the service's default"
        print(f"tuning in {derived.tuning_region}{batch}, {epochs} epochs")
        if tokens is not None:
            print(f"cost: {spend.describe()}")
        if shown is not None:
            print(shown.line)
        if unchecked:
            print("budget: not checked without token counts (give --report REPORT.json)")
        for warning in result.warnings:
            print(f"warning: {warning}")
    return EXIT_VALID
