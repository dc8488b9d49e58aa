"""The chain's latency on the local stack: from upload to validated, to submitted job, to
recorded tuned model, for each backend, with where the time goes.

    .venv/bin/python -m benchmarks.bench_latency [--datasets 10] [--step-seconds 1]

Datasets are dropped one at a time (each waits for the one before to end), so that the figures
are the chain's own, not a queue's. Times come from the records: each step carries when it was
written; the upload's time is the object's creation time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path

from codetune.local.stack import LocalStack, StackConfig
from codetune.state import RecordStore, Stage
from codetune.storage import Storage

EXAMPLE = Path(resources.files("codetune.local.examples").joinpath("code-generation.jsonl"))  # type: ignore[arg-type]
BACKENDS = {"gemini": None, "pipeline": "code-bison@002"}
SPANS = (
    ("upload → validated", None, Stage.VALIDATED),
    ("validated → submitted", Stage.VALIDATED, Stage.SUBMITTED),
    ("submitted → tuned model recorded", Stage.SUBMITTED, Stage.SUCCEEDED),
    ("upload → tuned model recorded", None, Stage.SUCCEEDED),
)


def measure(datasets: int, step_seconds: float) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    config = StackConfig(step_seconds=step_seconds)
    with LocalStack(config) as stack:
        store = RecordStore(Storage(), stack.state_bucket, uploads=stack.config.bucket)
        for backend, model in BACKENDS.items():
            spans: dict[str, list[float]] = {name: [] for name, _, _ in SPANS}
            for index in range(datasets):
                name = f"incoming/latency-{backend}-{index}.jsonl"
                metadata = {"codetune-large_model_reference": model} if model else None
                generation = stack.upload(EXAMPLE.read_bytes(), name, metadata)
                record = stack.wait_for_record(
                    store.record_name(name, generation), {"SUCCEEDED"}, 120
                )
                blob = stack.storage_client.bucket(stack.config.bucket).get_blob(
                    name, generation=int(generation)
                )
                times = {
                    Stage(step["state"]): datetime.fromisoformat(step["time"])
                    for step in record["history"]
                }
                uploaded = blob.time_created
                for span, start, end in SPANS:
                    begin = uploaded if start is None else times[start]
                    spans[span].append((times[end] - begin).total_seconds())
            results[backend] = spans
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, default=10)
    parser.add_argument(
        "--step-seconds", type=float, default=1.0, help="a stand-in job's time in each state"
    )
    args = parser.parse_args()
    results = measure(args.datasets, args.step_seconds)
    print(
        f"{args.datasets} datasets a backend, one at a time; stand-in jobs take {args.step_seconds:g} s a state"
    )
    print("| backend | span | median s | max s |")
    print("|---|---|---|---|")
    for backend, spans in results.items():
        for span, seconds in spans.items():
            print(f"| {backend} | {span} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
