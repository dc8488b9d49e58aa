"""`codetune report`: a dataset version's run, as the page the deployment writes beside it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from codetune.cli._cloud import _store, _version, in_google_cloud
from codetune.cli._common import EXIT_UNREADABLE, EXIT_VALID, Commands
from codetune.state import RecordStore
from codetune.tuning.common import DatasetRef


def add(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="a dataset version's run: timeline, curves, tokens, cost, tuned model",
        description="Read the record of gs://BUCKET/NAME[#generation] (the latest version if no "
        "generation is given) and print its training metrics, or write its run page with "
        "--html (the page the deployment writes beside the dataset as NAME.run.html when the "
        "job ends). Exit status 0 when found, 2 when not.",
    )
    report.add_argument("target", metavar="DATASET_URI", help="gs://BUCKET/NAME[#generation]")
    report.add_argument("--html", metavar="FILE", type=Path, help="write the run page here")
    report.add_argument(
        "--eval-html",
        metavar="FILE",
        type=Path,
        help="write the evaluation page here (from the state bucket: it holds the evaluation "
        "dataset's text and both models' answers)",
    )
    report.add_argument("--json", action="store_true", help="print the metrics as JSON")
    report.set_defaults(handler=in_google_cloud(_report))


def _report(args: argparse.Namespace) -> int:
    from codetune.run_html import render

    dataset = DatasetRef.parse(args.target)
    store = _store(dataset.bucket)
    generation = _version(store, dataset)
    record = store.record(dataset.name, generation) if generation else None
    if record is None:
        print(f"codetune: no record of {args.target}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.html:
        try:
            args.html.write_text(render(record), encoding="utf-8")
        except OSError as fault:
            print(f"codetune: {args.html}: {fault.strerror}", file=sys.stderr)
            return EXIT_UNREADABLE
        print(f"run page of {dataset.uri}#{generation}: {args.html}")
    if args.eval_html and not _eval_page(
        store, dataset.name, record.generation or "", args.eval_html
    ):
        return EXIT_UNREADABLE
    if args.json:
        print(msgspec.json.encode(record.curves).decode())
    elif not args.html and not args.eval_html:
        for line in lines(record.curves):
            print(line)
    return EXIT_VALID


def _eval_page(store: RecordStore, dataset: str, generation: str, out: Path) -> bool:
    """Copy the version's evaluation page, from where codetune writes it (never from a name a
    record says), to `out`."""
    bucket, name = store.eval_page_location(dataset, generation)
    page = store.storage.read_bytes(bucket, name)
    if page is None:
        print(
            f"codetune: no evaluation page for this version (gs://{bucket}/{name})", file=sys.stderr
        )
        return False
    try:
        out.write_bytes(page)
    except OSError as fault:
        print(f"codetune: {out}: {fault.strerror}", file=sys.stderr)
        return False
    print(f"evaluation page of gs://{store.uploads}/{dataset}#{generation}: {out}")
    return True


def lines(curves: object) -> list[str]:
    """Each series from its first point to its last, or why there are none."""
    from codetune.state.records import Curves

    if not isinstance(curves, Curves):
        return ["no metrics recorded (they are read when the job ends)"]
    out = [
        f"metrics read {curves.read}" + (f" from {curves.experiment}" if curves.experiment else "")
    ]
    for series in curves.series:
        if series.points:
            first, last = series.points[0], series.points[-1]
            out.append(
                f"  {series.name}: {first.value:.4g} at step {first.step:,} to {last.value:.4g} "
                f"at step {last.step:,} ({len(series.points):,} points)"
            )
    if curves.note:
        out.append(f"  note: {curves.note}")
    if curves.console:
        out.append(f"  in the console: {curves.console}")
    return out
