"""`codetune`: the command line. Each subcommand is a thin shell over the pure core."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from codetune.app.admission import admit, report_problems
from codetune.config import UPLOAD_PREFIX, allowed_base_models
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
from codetune.exceptions import PlanRejected
from codetune.tuning import budget
from codetune.tuning import parameters as tuning_parameters
from codetune.tuning.backends import (
    known_models,
    resolve_base_model,
    rules_for,
)
from codetune.tuning.common import DatasetRef
from codetune.tuning.manifest import (
    EVALUATION_SUFFIX,
    MAX_MANIFEST_BYTES,
    manifest_name,
    training_name,
)
from codetune.tuning.sources import layer_strings, parameter_sources

if TYPE_CHECKING:
    from codetune.state import RecordStore

_LOCAL_BUCKET = "codetune-local"  # the bucket a local dataset's manifest is read as beside
_MAX_REPORT_BYTES = 64 * 1024 * 1024  # a report lists 100 findings: far less than this
EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2  # also argparse's exit status for wrong arguments
COMMANDS_GROUP = "codetune.commands"

_PROGRESS_FROM_BYTES = 8 * 1024 * 1024  # smaller files finish before a bar is worth drawing


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


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
    validate.set_defaults(handler=_validate)

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
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a parameter; one of: {', '.join(tuning_parameters.NAMES)}",
    )
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(handler=_plan)

    # Commands of the installed extras (e.g. `demo`, from codetune.local): entry points in the
    # "codetune.commands" group, each a function that adds its subparser.
    for command in sorted(metadata.entry_points(group=COMMANDS_GROUP), key=lambda c: c.name):
        command.load()(commands)

    status = commands.add_parser(
        "status",
        help="where a dataset (or a tuning job) stands",
        description="Read the record of gs://BUCKET/NAME[#generation] (the latest version if no "
        "generation is given) or of a job id. Exit status 0 when found, 2 when not.",
    )
    status.add_argument("target", metavar="DATASET_URI_OR_JOB_ID")
    status.add_argument(
        "--bucket", help="the upload bucket, for a job id (default: $CODETUNE_BUCKET)"
    )
    status.add_argument("--json", action="store_true", help="print the record")
    status.set_defaults(handler=_in_google_cloud(_status))

    logs = commands.add_parser(
        "logs",
        help="one dataset's story: the chain's log entries for it, in order",
        description="Print the log entries of every function for one dataset version (by its "
        "correlation id): from Cloud Logging's entries.list, or from a local stack's log folder "
        "(--local). Exit status 0, or 2 when they cannot be read.",
    )
    logs.add_argument("target", metavar="DATASET_URI", help="gs://BUCKET/NAME[#generation]")
    logs.add_argument("--project", default=os.environ.get("CODETUNE_PROJECT"))
    logs.add_argument("--follow", action="store_true", help="keep printing new entries")
    logs.add_argument("--local", metavar="DIR", help="a local stack's log folder")
    logs.add_argument("--json", action="store_true", help="one entry a line, as JSON")
    logs.set_defaults(handler=_in_google_cloud(_logs))

    models = commands.add_parser("models", help="tuned models").add_subparsers(
        dest="models", required=True
    )
    listing = models.add_parser(
        "list",
        help="list tuned models, like the SDK's list_tuned_model_names",
        description="Tuned models in the Model Registry, by their base model label.",
    )
    listing.add_argument("--base-model", help="e.g. code-bison@002 (default: every code model)")
    listing.add_argument("--project", default=os.environ.get("CODETUNE_PROJECT"))
    listing.add_argument(
        "--region",
        default=os.environ.get("CODETUNE_LOCATION") or os.environ.get("CODETUNE_PIPELINE_REGION"),
        help="where the models were uploaded (default: $CODETUNE_LOCATION or $CODETUNE_PIPELINE_REGION)",
    )
    listing.set_defaults(handler=_in_google_cloud(_models_list))
    return parser


def _regular_file(path: str) -> str | None:
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


def _read_file(path: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (OSError, with why, otherwise)."""
    problem = _regular_file(path)
    if problem is not None:
        raise OSError(problem.removeprefix(f"cannot read {path}: "))
    with open(path, "rb") as stream:
        return stream.read(limit + 1)


def _manifest_of(path: str, given: str | None) -> tuple[str | None, bytes | None]:
    """The manifest to check with a dataset: the one given, else `NAME.tuning.json` beside it
    (an evaluation dataset's is its training dataset's), as the validate function reads it
    from the bucket. OSError if the one given (or the one beside) cannot be read."""
    name = given or manifest_name(training_name(path))
    if given is None and not os.path.lexists(name):
        return None, None
    return name, _read_file(name, MAX_MANIFEST_BYTES)


def _validate(args: argparse.Namespace) -> int:
    kind = DatasetKind(args.kind) if args.kind else None
    # As the validate function: a *.eval.jsonl is an evaluation dataset, flag or not.
    evaluation = args.evaluation or args.path.lower().endswith(EVALUATION_SUFFIX)
    role = DatasetRole.EVALUATION if evaluation else DatasetRole.TRAINING
    for path in (args.path, args.evaluation_path):
        problem = _regular_file(path) if path else None
        if problem is not None:
            return _unreadable(path, problem, args.json)
    try:
        _, manifest = _manifest_of(args.path, args.manifest)
    except OSError as fault:
        name = args.manifest or manifest_name(training_name(args.path))
        return _unreadable(
            name, f"cannot read the manifest {name}: {fault.strerror or fault}", args.json
        )
    # The sources as the validate function resolves them: the deployment's defaults (this
    # shell's CODETUNE_*) < the manifest, as if beside the dataset in the upload folder; then
    # --set and --base-model, as a deployment would set them.
    prefix = os.environ.get("CODETUNE_UPLOAD_PREFIX", UPLOAD_PREFIX)
    uri = f"gs://{_LOCAL_BUCKET}/{prefix}{Path(args.path).name}"
    assignments = [*args.assignments]
    if args.base_model:
        assignments.append(f"large_model_reference={args.base_model}")
    sources, manifest_problems = parameter_sources(os.environ, uri, manifest)
    assigned, wrong = tuning_parameters.from_assignments(assignments)
    if wrong:
        for wrong_set in wrong:
            print(f"codetune: --set {wrong_set.parameter}: {wrong_set.message}", file=sys.stderr)
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
    if args.evaluation_path and role is DatasetRole.EVALUATION:
        print("codetune: --eval pairs an evaluation dataset with a training one", file=sys.stderr)
        return EXIT_UNREADABLE
    form = DatasetFormat(args.format) if args.format else None
    secrets = SecretSeverity(args.secrets)
    try:
        counter = SentencePiece(args.tokenizer) if args.tokenizer else None
    except (OSError, RuntimeError) as fault:
        print(f"codetune: cannot load the tokenizer {args.tokenizer}: {fault}", file=sys.stderr)
        return EXIT_UNREADABLE
    reports: list[ValidationReport] = []
    checks: list[ExampleCheck] = [NearDuplicates()] if args.near_duplicates else []
    path = args.path
    try:
        if args.evaluation_path:
            path = args.evaluation_path
            with open(path, "rb") as stream:
                evaluation, index = index_evaluation(
                    stream, path, rules=rules, secrets=secrets, near=args.near_duplicates
                )
            reports.append(evaluation)
            checks.append(TrainingOverlap(index))
            path = args.path
        progress = _progress_bar(path, sys.stderr) if not args.json else None
        try:
            reports.insert(
                0,
                validate_path(
                    path,
                    kind,
                    role,
                    progress,
                    rules=rules,
                    format=form,
                    checks=checks,
                    secrets=secrets,
                    tokenizer=counter,
                    beside=layer_strings(sources),
                ),
            )
        finally:
            if progress is not None:
                progress(-1)
    except OSError as fault:
        return _unreadable(path, f"cannot read {path}: {fault.strerror or fault}", args.json)
    if role is DatasetRole.TRAINING:
        # As the validate function: what tune would refuse before any job is the report's.
        checked = report_problems(
            DatasetRef(uri),
            reports[0],
            sources,
            manifest_problems,
            allowed_base_models(os.environ),
            os.environ.get("CODETUNE_STATE_BUCKET") or None,
            evaluation_examples=reports[1].examples if len(reports) == 2 else None,
            away=True,
        )
        for finding in checked.errors:
            reports[0].errors.add(finding)
        if checked.not_checked:
            print(
                "codetune: not checked without the deployment's "
                + ", ".join(checked.not_checked)
                + " (set "
                + ", ".join(f"CODETUNE_{name.upper()}" for name in checked.not_checked)
                + ", or --set NAME=VALUE)",
                file=sys.stderr,
            )
    if args.html:
        from codetune.dataset.html import render

        limits, _ = tuning_parameters.resolve(sources)
        cost = budget.for_report(reports[0].stats["tokens"], limits, rules.base_model)
        try:
            Path(args.html).write_text(render(reports[0], cost.to_dict()), encoding="utf-8")
        except OSError as fault:
            print(f"codetune: cannot write {args.html}: {fault.strerror or fault}", file=sys.stderr)
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


def _unreadable(path: str, message: str, as_json: bool) -> int:
    """A file that cannot be read: one line (and with --json, an object), exit status 2."""
    if as_json:
        sys.stdout.write(orjson.dumps({"dataset": path, "error": message}).decode() + "\n")
    print(f"codetune: {message}", file=sys.stderr)
    return EXIT_UNREADABLE


def _plan(args: argparse.Namespace) -> int:
    dataset = DatasetRef.parse(args.dataset)
    tokens = None
    if args.report:
        try:
            report = orjson.loads(_read_file(args.report, _MAX_REPORT_BYTES))
            args.kind, args.examples = report["kind"], report["examples"]
            args.format = args.format or report.get("format")
            tokens = report["stats"].get("tokens")
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as fault:
            print(f"codetune: cannot read the report {args.report}: {fault}", file=sys.stderr)
            return EXIT_UNREADABLE
    if args.kind is None or args.examples is None:
        print("codetune: plan needs --report, or --kind and --examples", file=sys.stderr)
        return EXIT_UNREADABLE
    manifest = None
    if args.manifest:
        try:
            manifest = _read_file(args.manifest, MAX_MANIFEST_BYTES)
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
        result, spend = admitted.plan, admitted.budget.spend
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
        shown = {**result.to_dict(), **({"cost": spend.to_dict()} if tokens is not None else {})}
        sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        derived = result.to_dict()["derived"]
        print(f"{result.method} {result.url}")
        print(orjson.dumps(result.body, option=orjson.OPT_INDENT_2).decode())
        if derived["template"]:
            print(f"template {derived['template']}")
        batch = f", batch size {derived['batch_size']}" if derived["batch_size"] else ""
        epochs = derived["epochs"] if derived["epochs"] is not None else "the service's default"
        print(f"tuning in {derived['tuning_region']}{batch}, {epochs} epochs")
        if tokens is not None:
            print(f"cost: {spend.describe()}")
        if unchecked:
            print("budget: not checked without token counts (give --report REPORT.json)")
        for warning in result.warnings:
            print(f"warning: {warning}")
    return EXIT_VALID


ADC_HELP = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service account key file)"
)


def _in_google_cloud(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """A command that reaches Google Cloud: what is missing (credentials, a bucket, a role) is
    said in one line, exit status 2, never as a traceback."""

    def run(args: argparse.Namespace) -> int:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        from codetune.exceptions import LogsRefused, PermanentVertexError

        target = getattr(args, "target", None) or ""
        bucket = DatasetRef.parse(target).bucket if target.startswith("gs://") else None
        where = f"gs://{bucket}" if bucket else "the bucket"
        try:
            return command(args)
        except auth.DefaultCredentialsError:
            problem = f"no Google Cloud credentials found: {ADC_HELP}"
        except auth.RefreshError as fault:
            problem = f"Google Cloud credentials were refused ({fault}): {ADC_HELP}"
        except api.NotFound:
            problem = f"{where} does not exist, or is not visible with these credentials"
        except api.Forbidden:
            problem = (
                f"{where}: permission denied; reading records needs roles/storage.objectViewer "
                "on the bucket"
            )
        except LogsRefused as fault:
            role = " (reading logs needs roles/logging.viewer)" if fault.status == 403 else ""
            problem = f"{fault}{role}"
        except PermanentVertexError as fault:
            role = " (listing models needs roles/aiplatform.viewer)" if fault.status == 403 else ""
            problem = f"Vertex AI refused: {fault}{role}"
        print(f"codetune: {problem}", file=sys.stderr)
        return EXIT_UNREADABLE

    return run


def _store(upload_bucket: str) -> RecordStore:
    """The records of an upload bucket's datasets: in $CODETUNE_STATE_BUCKET, else in the
    deployment's default state bucket, `<bucket>-state`."""
    from codetune.config import Settings
    from codetune.state import RecordStore
    from codetune.state.store import default_state_bucket
    from codetune.storage import Storage

    settings = Settings.from_environment()
    state = settings.state_bucket or default_state_bucket(upload_bucket)
    return RecordStore(Storage(), state, settings.system_prefix, upload_bucket)


def _status(args: argparse.Namespace) -> int:
    from codetune.config import Settings
    from codetune.state import describe

    settings = Settings.from_environment()
    if args.target.startswith("gs://"):
        dataset = DatasetRef.parse(args.target)
        store = _store(dataset.bucket)
        generation = dataset.generation or next(reversed(store.generations(dataset.name)), None)
        record = store.record(dataset.name, generation) if generation else None
    else:
        bucket = args.bucket or settings.bucket
        if not bucket:
            print("codetune: a job id needs --bucket or $CODETUNE_BUCKET", file=sys.stderr)
            return EXIT_UNREADABLE
        store = _store(bucket)
        pointer = store.pointer(args.target)
        record = store.record(pointer.dataset, pointer.generation) if pointer else None
    if record is None:
        print(f"codetune: no record of {args.target}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        sys.stdout.write(orjson.dumps(record.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print("\n".join(describe(record)))
    return EXIT_VALID


def _logs(args: argparse.Namespace) -> int:
    from codetune import logreader
    from codetune.logs import correlation_id

    dataset = DatasetRef.parse(args.target)
    if args.local:
        folder = Path(args.local)
        generation = dataset.generation or logreader.local_generation(folder, dataset.uri)
        if generation is None:
            print(f"codetune: no entries of {dataset.uri} in {folder}", file=sys.stderr)
            return EXIT_UNREADABLE
        entries = logreader.local_entries(folder, correlation_id(dataset.uri, generation))
        _print_entries(entries, args.json)
        return EXIT_VALID
    if not args.project:
        print("codetune: --project (or $CODETUNE_PROJECT) is needed", file=sys.stderr)
        return EXIT_UNREADABLE
    generation = dataset.generation
    if generation is None:
        store = _store(dataset.bucket)
        generation = next(reversed(store.generations(dataset.name)), None)
        if generation is None:
            print(f"codetune: no record of {dataset.uri}", file=sys.stderr)
            return EXIT_UNREADABLE
    reader = logreader.CloudLogs(args.project, os.environ.get("CODETUNE_LOGGING_ENDPOINT"))
    correlation = correlation_id(dataset.uri, generation)
    last: str | None = None
    while True:
        for entry in reader.entries(correlation, last):
            _print_entries([entry], args.json)
            last = entry.get("timestamp") or last
        if not args.follow:
            return EXIT_VALID
        time.sleep(FOLLOW_SECONDS)


FOLLOW_SECONDS = 5.0


def _print_entries(entries: list[dict[str, Any]], as_json: bool) -> None:
    from codetune import logreader

    for entry in entries:
        print(orjson.dumps(entry).decode() if as_json else logreader.line(entry), flush=True)


def _models_list(args: argparse.Namespace) -> int:
    from codetune.config import Settings
    from codetune.tuning.backends import BACKENDS, known_models
    from codetune.vertex import VertexClient

    if not args.project or not args.region:
        print(
            "codetune: --project and --region (or $CODETUNE_PROJECT, $CODETUNE_PIPELINE_REGION) are needed",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    if args.base_model and args.base_model not in known_models():
        print(
            f"codetune: unknown base model; use one of {', '.join(known_models())}", file=sys.stderr
        )
        return EXIT_UNREADABLE
    client = VertexClient(Settings.from_environment().vertex)
    names = [
        name
        for backend in BACKENDS.values()
        for name in backend.tuned_models(client, args.project, args.region, args.base_model)
    ]
    for name in dict.fromkeys(names):
        print(name)
    return EXIT_VALID


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


if __name__ == "__main__":
    sys.exit(main())
