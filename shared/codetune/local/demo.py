"""`codetune demo`: start the local stack, drop a dataset into the bucket, follow it to the end."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import orjson

from codetune.local.stack import FINISHED_TOPIC, LocalStack, StackConfig, StackError
from codetune.state import FINAL, Record, RecordStore, Stage, describe
from codetune.storage import Storage

# examples/ in the repository, installed with the package.
DEFAULT_DATASET = Path(resources.files("codetune.local.examples").joinpath("code-generation.jsonl"))  # type: ignore[arg-type]


def run_demo(
    dataset: Path | None = None,
    timeout_seconds: float = 120,
    say: Callable[[str], None] = print,
    config: StackConfig | None = None,
    base_model: str | None = None,
) -> int:
    """0 when the dataset ends with a tuned model, 1 when the chain ends otherwise.

    `base_model` goes on the upload as the `codetune-large_model_reference` metadata, as a
    user would set it (a Gemini model selects supervised tuning)."""
    path = dataset or DEFAULT_DATASET
    data = path.read_bytes()
    say(
        "starting the local stack: Pub/Sub emulator, fake-gcs-server, the four functions, Eventarc, Cloud Scheduler and Vertex AI stand-ins"
    )
    started = time.monotonic()
    with LocalStack(config) as stack:
        say(f"  ready in {time.monotonic() - started:.1f} s; process logs in {stack.log_dir}")
        name = f"incoming/{path.name}"
        metadata = {"codetune-large_model_reference": base_model} if base_model else None
        generation = stack.upload(data, name, metadata)
        say(
            f"uploaded {path} to gs://{stack.config.bucket}/{name} (generation {generation})"
            + (f" with base model {base_model}" if base_model else "")
        )
        store = RecordStore(Storage(), stack.state_bucket, uploads=stack.config.bucket)
        record = _follow(lambda: store.record(name, generation), timeout_seconds, say)
        if record is not None:
            # What a downstream system subscribed to the completion topic receives.
            for body, attributes in stack.finished_messages(timeout=10):
                say(f"message on {FINISHED_TOPIC} (finished_id {attributes.get('finished_id')}):")
                say("  " + orjson.dumps(body).decode())
    say("stopped every process the demo started")
    if record is None:
        say(f"the chain did not finish within {timeout_seconds:.0f} s")
        return 1
    if record.state is Stage.SUCCEEDED and record.tuned_model:
        say(f"tuned model: {record.tuned_model.model}")
        return 0
    say(f"the chain ended {record.state}:")
    for line in describe(record)[1:]:
        say(line)
    return 1


def _follow(
    read: Callable[[], Record | None], timeout_seconds: float, say: Callable[[str], None]
) -> Record | None:
    """Print each step of the record as it happens; the final record, or None on time-out."""
    shown = 0
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        record = read()
        history = record.history if record else ()
        for step in history[shown:]:
            assert record is not None
            say(f"  {step.time[11:19]} {step.by:>8}: {_step_text(step.state, record)}")
        shown = len(history)
        if record and record.state in FINAL:
            return record
        time.sleep(0.2)
    return None


def _step_text(state: Stage, record: Record) -> str:
    texts = {
        Stage.VALIDATED: f"dataset valid ({record.examples} examples, {record.kind})",
        Stage.REJECTED: f"dataset rejected; report {record.report}",
        Stage.SUBMITTED: f"tuning job submitted: {record.job.name if record.job else ''}"
        + (f" ({record.base_model}, {record.backend} backend)" if record.base_model else ""),
        Stage.QUEUED: "job queued",
        Stage.RUNNING: "job running",
        Stage.SUCCEEDED: "job succeeded",
        Stage.FAILED: "failed",
        Stage.CANCELLED: "job cancelled",
    }
    return texts.get(state, str(state))


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
            base_model=args.base_model,
        )
    except StackError as fault:
        print(f"codetune: the local stack failed: {fault}", file=sys.stderr)
        return 1
