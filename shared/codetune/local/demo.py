"""`codetune demo`: start the local stack, drop a dataset (with the manifest beside it and the
evaluation dataset it pairs) into the bucket, tell each step as it happens, keep what it made."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import msgspec
import orjson

from codetune.config import UPLOAD_PREFIX
from codetune.local.stack import (
    FINISHED_TOPIC,
    LocalStack,
    StackConfig,
    StackError,
    remove_unless_failed,
)
from codetune.local.story import Story, summary
from codetune.state import FINAL, Record, RecordStore, Stage
from codetune.storage import Storage
from codetune.tuning.manifest import manifest_name, parse_manifest

# examples/ in the repository, installed with the package.
DEFAULT_DATASET = Path(resources.files("codetune.local.examples").joinpath("code-generation.jsonl"))  # type: ignore[arg-type]
DEFAULT_OUT = Path("codetune-demo")  # in the current directory
FINISHED_SECONDS = 10  # how long the completion message may take after the record's end
Say = Callable[[str], None]


class Upload(msgspec.Struct, frozen=True):
    """A local file and the object it becomes in the upload bucket."""

    path: Path
    name: str


class Outcome(msgspec.Struct):
    record: Record | None = None
    names: list[str] = msgspec.field(default_factory=list)  # every dataset uploaded
    dataset: str = ""  # gs:// URI of the training dataset


def run_demo(
    dataset: Path | None = None,
    timeout_seconds: float = 120,
    say: Say = print,
    config: StackConfig | None = None,
    base_model: str | None = None,
    out: Path = DEFAULT_OUT,
    keep: bool = False,
    manifest: bool = True,
) -> int:
    """0 when the dataset ends with a tuned model, 1 when the chain ends otherwise.

    `base_model` goes on the uploads as the `codetune-large_model_reference` metadata, as a
    user would set it (a Gemini model selects supervised tuning). What the chain made (reports,
    pages, the final record, every process's log) is copied to `out`; the stack's temporary
    folder is removed unless `keep`. Without `manifest`, the dataset goes alone."""
    config = config or StackConfig()
    with _work_folder(config, keep, say) as folder:
        config = msgspec.structs.replace(config, log_dir=folder)
        path = dataset or DEFAULT_DATASET
        outcome = _run(path, timeout_seconds, say, config, base_model, out, manifest)
        say("stopped every process the demo started")
        _keep_logs(folder, out)
    return _ending(outcome, timeout_seconds, out, say)


@contextlib.contextmanager
def _work_folder(config: StackConfig, keep: bool, say: Say) -> Iterator[Path]:
    """The stack's folder (process logs, the emulators' files): a temporary one, removed at the
    end unless `keep` or an error (as `LocalStack` does with its own; unless the caller chose
    it)."""
    if config.log_dir is not None:
        yield config.log_dir
        return
    folder = Path(tempfile.mkdtemp(prefix="codetune-stack-"))
    failure: type[BaseException] | None = None
    try:
        yield folder
    except BaseException as error:
        failure = type(error)
        raise
    finally:
        if keep or not remove_unless_failed(folder, failure):
            say(f"kept the stack's folder {folder}")


def _run(
    path: Path,
    timeout_seconds: float,
    say: Say,
    config: StackConfig,
    base_model: str | None,
    out: Path,
    with_manifest: bool,
) -> Outcome:
    say(
        "starting the local stack: Pub/Sub emulator, fake-gcs-server, the five functions, Eventarc, Cloud Scheduler and Vertex AI stand-ins"
    )
    started = time.monotonic()
    outcome = Outcome()
    with LocalStack(config) as stack:
        say(f"  ready in {time.monotonic() - started:.1f} s")
        store = RecordStore(Storage(), stack.state_bucket, uploads=stack.config.bucket)
        metadata = {"codetune-large_model_reference": base_model} if base_model else None
        manifest, evaluation = (
            companions(path, stack.config.bucket, say) if with_manifest else (None, None)
        )
        deadline = time.monotonic() + timeout_seconds
        if manifest is not None:
            _upload(stack, manifest, None, say, "the manifest: parameters and evaluation dataset")
        if evaluation is not None:
            outcome.names.append(evaluation.name)
            generation = _upload(stack, evaluation, metadata, say, "the evaluation dataset")
            # Validated before the training dataset arrives, as a user who uploads it first.
            story = Story(stack, store, evaluation.name, generation, say, "evaluation: ")
            story.follow(deadline, until={Stage.VALIDATED, *FINAL})
        training = Upload(path, UPLOAD_PREFIX + path.name)
        outcome.names.append(training.name)
        outcome.dataset = f"gs://{stack.config.bucket}/{training.name}"
        generation = _upload(stack, training, metadata, say, "the training dataset")
        story = Story(stack, store, training.name, generation, say)
        outcome.record = story.follow(deadline, until=FINAL)
        if outcome.record is not None:
            _downstream(stack, outcome.record, say)
        _keep_pages(stack, store, outcome, out, say)
    return outcome


def companions(path: Path, bucket: str, say: Say) -> tuple[Upload | None, Upload | None]:
    """The manifest beside the dataset (`NAME.tuning.json`) and the evaluation dataset it pairs,
    as the validate function pairs them in the bucket (codetune.tuning.manifest)."""
    manifest_path = path.with_name(manifest_name(path.name))
    if not manifest_path.is_file():
        return None, None
    manifest = Upload(manifest_path, UPLOAD_PREFIX + manifest_path.name)
    folder = f"gs://{bucket}/{UPLOAD_PREFIX}"
    parsed, _ = parse_manifest(manifest_path.read_bytes(), folder + path.name)
    if parsed.evaluation is None:
        return manifest, None
    relative = parsed.evaluation.removeprefix(folder)
    local = path.parent / relative
    if relative == parsed.evaluation or not local.is_file():
        say(f"  the manifest's evaluation dataset {parsed.evaluation} is not a file beside it")
        return manifest, None
    return manifest, Upload(local, UPLOAD_PREFIX + relative)


def _upload(
    stack: LocalStack, upload: Upload, metadata: dict[str, str] | None, say: Say, what: str
) -> str:
    generation = stack.upload(upload.path.read_bytes(), upload.name, metadata)
    model = (metadata or {}).get("codetune-large_model_reference")
    say(
        f"uploaded {upload.path} to gs://{stack.config.bucket}/{upload.name} ({what}, "
        f"generation {generation})" + (f" with base model {model}" if model else "")
    )
    return generation


def _downstream(stack: LocalStack, record: Record, say: Say) -> None:
    """What a downstream system subscribed to the completion topic receives."""
    finished_id = f"{record.dataset}#{record.generation}/{record.state}"
    for body, attributes in stack.finished_messages(FINISHED_SECONDS, finished_id):
        say(f"message on {FINISHED_TOPIC} (finished_id {attributes.get('finished_id')}):")
        say("  " + orjson.dumps(body).decode())


def _keep_pages(
    stack: LocalStack, store: RecordStore, outcome: Outcome, out: Path, say: Say
) -> None:
    """Copy what the chain wrote beside each dataset (`NAME.report.json`, `.report.html`, the
    run page `.run.html` when there is one), the evaluation page from the state bucket, and the
    final record to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    bucket = stack.storage_client.bucket(stack.config.bucket)
    for name in outcome.names:
        for blob in bucket.list_blobs(prefix=name + "."):
            (out / Path(blob.name).name).write_bytes(blob.download_as_bytes())
    record = outcome.record
    if record is not None and record.evaluation is not None and record.generation:
        # The evaluation page is in the state bucket (it holds the dataset's text).
        page_bucket, page_name = store.eval_page_location(outcome.names[-1], record.generation)
        page = stack.storage_client.bucket(page_bucket).get_blob(page_name)
        if page is not None:
            (out / f"{Path(outcome.names[-1]).name}.eval.html").write_bytes(
                page.download_as_bytes()
            )
    if record is not None:
        name = Path(outcome.names[-1]).name
        document = orjson.dumps(record.to_json(), option=orjson.OPT_INDENT_2)
        (out / f"{name}.record.json").write_bytes(document)


def _keep_logs(folder: Path, out: Path) -> None:
    """Every process's log, for `codetune logs --local OUT/logs` (this run's only)."""
    logs = out / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    for log in folder.glob("*.log"):
        shutil.copy2(log, logs / log.name)


PAGES = {".run.html": "  (the run page)", ".eval.html": "  (the evaluation page)"}


def verdict(record: Record) -> list[str]:
    """The tuned model against its base, as `codetune status` shows it."""
    evaluation = record.evaluation
    if evaluation is None or evaluation.state == "planned":
        return []
    if evaluation.verdict is None:
        return [f"not evaluated: {evaluation.note or evaluation.state}"]
    lines = [f"verdict on {evaluation.verdict.examples} evaluation examples (tuned against base):"]
    return lines + [f"  {line}" for line in evaluation.verdict.describe()]


def _ending(outcome: Outcome, timeout_seconds: float, out: Path, say: Say) -> int:
    record = outcome.record
    names = [Path(name).name for name in outcome.names]
    kept = sorted(p for p in out.iterdir() if p.is_file() and p.name.startswith(tuple(names)))
    say(f"what the chain made, copied to {out}/:")
    for path in kept:
        page = PAGES.get(path.name.rpartition(".jsonl")[2], "")
        say(f"  {path}{page}")
    say(f"  {out / 'logs'}/ (every process's log)")
    if outcome.dataset:
        say(
            f"the chain's log entries for the dataset: codetune logs {outcome.dataset} --local "
            f"{out / 'logs'}"
        )
    if record is None:
        say(f"the chain did not finish within {timeout_seconds:.0f} s")
        return 1
    if record.state is Stage.SUCCEEDED and record.tuned_model:
        say(f"tuned model: {record.tuned_model.model}")
        for line in verdict(record):
            say(line)
        return 0
    say(f"the chain ended {record.state}:")
    for line in summary(record, out):
        say(line)
    return 1


def command(args: argparse.Namespace) -> int:
    """The command's handler (codetune.local.commands adds its parser)."""
    dataset = Path(args.dataset) if args.dataset else None
    if dataset is not None and not dataset.is_file():
        print(f"codetune: cannot read {dataset}", file=sys.stderr)
        return 2
    try:
        return run_demo(
            dataset,
            args.timeout,
            say=lambda line: print(line, flush=True),
            config=StackConfig(step_seconds=args.step_seconds),
            base_model=args.base_model,
            out=Path(args.out),
            keep=args.keep,
            manifest=not args.no_manifest,
        )
    except StackError as fault:
        print(f"codetune: the local stack failed: {fault}", file=sys.stderr)
        return 1
