"""The commands that read a deployment: `status`, `logs`, `models list`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from codetune.cli._common import (
    EXIT_INVALID,
    EXIT_UNREADABLE,
    EXIT_VALID,
    Commands,
)
from codetune.state.records import FINAL, Stage
from codetune.tuning.backends import (
    known_models,
)
from codetune.tuning.common import DatasetRef

if TYPE_CHECKING:
    from codetune.state import RecordStore


def add(commands: Commands) -> None:
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
    status.add_argument(
        "--follow",
        action="store_true",
        help="read it again every few seconds and show it whenever it changed, until it ends",
    )
    status.set_defaults(handler=in_google_cloud(_status))

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
    logs.set_defaults(handler=in_google_cloud(_logs))

    listed = commands.add_parser(
        "runs",
        help="every dataset version and its job at a glance, newest first",
        description="One row per dataset version of a deployment's upload bucket: stage, base "
        "model, job, started, duration, examples, estimated and billed training tokens, the "
        "estimated cost, the tuned model or why there is none. Read from one listing of the "
        "records and a read of each row shown. Exit status 0, or 2 when they cannot be read.",
    )
    listed.add_argument(
        "prefix", nargs="?", default="", metavar="NAME_PREFIX", help="e.g. incoming/team-a/"
    )
    listed.add_argument("--bucket", help="the upload bucket (default: $CODETUNE_BUCKET)")
    listed.add_argument("--stage", type=str.upper, choices=[str(s) for s in Stage])
    listed.add_argument(
        "--since", type=_since, metavar="WHEN", help="updated since: 2026-12-01, or 3d, 12h, 30m"
    )
    listed.add_argument("--model", help="only this base model, e.g. gemini-3.5-flash")
    listed.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    listed.add_argument("--json", action="store_true", help="one JSON object a row")
    listed.set_defaults(handler=in_google_cloud(_runs))

    cancel = commands.add_parser(
        "cancel",
        help="stop a dataset version's tuning job, or make sure none is created",
        description="Ask the deployment to cancel gs://BUCKET/NAME[#generation] (the latest "
        "version if no generation is given): its job is cancelled (tuningJobs.cancel, "
        "pipelineJobs.cancel), or, before it has one, none is ever created; the record ends "
        "CANCELLED with who asked and when. Sent to the tune function on the validated topic "
        "(publishing there needs roles/pubsub.publisher: deploy.sh --operator). Exit status 0 "
        "asked, 1 nothing to cancel (it has ended, or a cancel was asked already), 2 no such "
        "version or the request cannot be sent.",
    )
    cancel.add_argument("target", metavar="DATASET_URI", help="gs://BUCKET/NAME[#generation]")
    cancel.add_argument(
        "--by",
        default=os.environ.get("CODETUNE_OPERATOR") or getpass.getuser(),
        help="who asks, for the record (default: $CODETUNE_OPERATOR, else the login name)",
    )
    cancel.add_argument(
        "--topic",
        default=os.environ.get("CODETUNE_VALIDATED_TOPIC"),
        help="the deployment's validated topic (default: $CODETUNE_VALIDATED_TOPIC; deploy.sh "
        "names it codetune-dataset-validated)",
    )
    cancel.set_defaults(handler=in_google_cloud(_cancel))

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
        default=os.environ.get("CODETUNE_LOCATION")
        or os.environ.get("CODETUNE_REGION")
        or os.environ.get("CODETUNE_PIPELINE_REGION"),
        help="where the models were uploaded (default: $CODETUNE_LOCATION or $CODETUNE_REGION)",
    )
    listing.set_defaults(handler=in_google_cloud(_models_list))


_UNITS = {"d": 86400, "h": 3600, "m": 60}


def _since(text: str) -> datetime:
    """`3d`, `12h`, `30m` ago, or an ISO date or time (UTC unless it says)."""
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give 3d, 12h, 30m or a date") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _cancel(args: argparse.Namespace) -> int:
    from codetune.config import Settings
    from codetune.messages import CancelRequested
    from codetune.pubsub import Publisher

    dataset = DatasetRef.parse(args.target)
    store = _store(dataset.bucket)
    generation = _version(store, dataset)
    record = store.record(dataset.name, generation) if generation else None
    if record is None or generation is None:
        print(f"codetune: no record of {args.target}", file=sys.stderr)
        return EXIT_UNREADABLE
    version = f"{dataset.uri}#{generation}"
    if record.state in FINAL:
        print(f"{version} has ended ({record.state}): nothing to cancel, nothing changed")
        return EXIT_INVALID
    if record.cancel is not None:
        print(
            f"{version}: a cancel was asked already, by {record.cancel.by} at "
            f"{record.cancel.time}: nothing changed"
        )
        return EXIT_INVALID
    settings = Settings.from_environment()
    if args.topic:
        settings = msgspec.structs.replace(settings, validated_topic=args.topic)
    if not settings.project:
        print("codetune: cancel needs $CODETUNE_PROJECT (the deployment's)", file=sys.stderr)
        return EXIT_UNREADABLE
    now = datetime.now(UTC).isoformat()
    request = CancelRequested(dataset.bucket, dataset.name, generation, args.by, now)
    message_id = Publisher().publish(settings.validated_topic_path, *request.encode())
    job = f" (job {record.job.name})" if record.job else " (no job yet: none will be created)"
    print(f"cancel asked for {version}{job}: message {message_id}")
    print(f"follow it with: codetune status {version}")
    return EXIT_VALID


def _runs(args: argparse.Namespace) -> int:
    from codetune.config import Settings
    from codetune.runs import runs, table

    bucket = args.bucket or Settings.from_environment().bucket
    if not bucket:
        print("codetune: runs needs --bucket or $CODETUNE_BUCKET", file=sys.stderr)
        return EXIT_UNREADABLE
    rows = runs(
        _store(bucket),
        stage=args.stage,
        since=args.since,
        model=args.model,
        prefix=args.prefix,
        limit=args.limit,
    )
    if args.json:
        for run in rows:
            sys.stdout.write(msgspec.json.encode(run).decode() + "\n")
    elif rows:
        print(table(rows))
    else:
        print("no dataset versions match", file=sys.stderr)
    return EXIT_VALID


ADC_HELP = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service account key file)"
)


def in_google_cloud(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """A command that reaches Google Cloud: what is missing (credentials, a bucket, a role) is
    said in one line, exit status 2, never as a traceback."""

    def run(args: argparse.Namespace) -> int:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        from codetune.exceptions import (
            LogsRefused,
            PermanentVertexError,
            PublishError,
            SettingError,
        )

        target = getattr(args, "target", None) or ""
        bucket = DatasetRef.parse(target).bucket if target.startswith("gs://") else None
        where = f"gs://{bucket}" if bucket else "the bucket"
        try:
            return command(args)
        except SettingError as fault:
            problem = str(fault)
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
        except PublishError as fault:
            text = str(fault)
            role = (
                " (asking a cancel needs roles/pubsub.publisher on the topic: deploy.sh --operator)"
                if " 403 " in text
                else " (no such topic: give the deployment's with --topic or "
                "$CODETUNE_VALIDATED_TOPIC, codetune-dataset-validated)"
                if " 404 " in text
                else ""
            )
            problem = f"the request could not be sent: {fault}{role}"
        except PermanentVertexError as fault:
            role = " (listing models needs roles/aiplatform.viewer)" if fault.status == 403 else ""
            problem = f"Vertex AI refused: {fault}{role}"
        print(f"codetune: {problem}", file=sys.stderr)
        return EXIT_UNREADABLE

    return run


def _version(store: RecordStore, dataset: DatasetRef) -> str | None:
    """The generation named, else the newest one with a record."""
    return dataset.generation or next(reversed(store.generations(dataset.name)), None)


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
        generation = _version(store, dataset)
        where = (dataset.name, generation or "")
    else:
        bucket = args.bucket or settings.bucket
        if not bucket:
            print("codetune: a job id needs --bucket or $CODETUNE_BUCKET", file=sys.stderr)
            return EXIT_UNREADABLE
        store = _store(bucket)
        pointer = store.pointer(args.target)
        where = (pointer.dataset, pointer.generation) if pointer else ("", "")
    record = store.record(*where) if all(where) else None
    if record is None:
        print(f"codetune: no record of {args.target}", file=sys.stderr)
        return EXIT_UNREADABLE
    shown = None
    while True:
        text = (
            orjson.dumps(record.to_json(), option=orjson.OPT_INDENT_2).decode()
            if args.json
            else "\n".join(describe(record))
        )
        if text != shown:  # on a terminal, the new state replaces the old one
            clear = "\033[H\033[2J" if args.follow and sys.stdout.isatty() else ""
            print(clear + text, flush=True)
            shown = text
        if not args.follow or record.state in FINAL:
            return EXIT_VALID
        time.sleep(FOLLOW_SECONDS)
        record = store.record(*where) or record


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
        generation = _version(store, dataset)
        if generation is None:
            print(f"codetune: no record of {dataset.uri}", file=sys.stderr)
            return EXIT_UNREADABLE
    from codetune.config import stand_in_endpoint

    endpoint = stand_in_endpoint(os.environ, "CODETUNE_LOGGING_ENDPOINT")
    reader = logreader.CloudLogs(args.project, endpoint)
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
    from codetune.tuning.backends import BACKENDS
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
