"""What writing the evaluation page costs: render time and page size at N examples, for the
realistic example record (short code answers, tests/unit/eval_example.py) and for the worst
case the page's bounds allow (every text at its 4,000-character cut, no line of an answer in
its reference, so that every line is diffed).

    .venv/bin/python -m benchmarks.bench_eval_page [--examples 1000] [--repeat 3]

The page shows at most 200 examples in full whatever N is; N still costs the sort.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import msgspec

from codetune.evaluation.page import MAX_TEXT_CHARS, render
from codetune.evaluation.plan import ExampleResult
from tests.unit.eval_example import evaluated, examples


def realistic(count: int) -> list[ExampleResult]:
    found = examples()
    return [msgspec.structs.replace(found[i % len(found)], line=i + 1) for i in range(count)]


def worst(count: int) -> list[ExampleResult]:
    rnd = random.Random(27)

    def text() -> str:
        lines = ("".join(rnd.choice("abcdefgh (),=:") for _ in range(79)) for _ in range(60))
        return "\n".join(lines)[:MAX_TEXT_CHARS]

    return [
        msgspec.structs.replace(
            result,
            prompt=text(),
            reference=text(),
            base=msgspec.structs.replace(result.base, text=text()),
            tuned=msgspec.structs.replace(result.tuned, text=text()),
        )
        for result in realistic(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    record = evaluated()
    print(f"{args.examples:,} examples; best of {args.repeat}")
    for label, results in (
        ("realistic", realistic(args.examples)),
        ("worst case", worst(args.examples)),
    ):
        best, size = float("inf"), 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            size = len(render(record, results).encode())
            best = min(best, time.perf_counter() - started)
        print(f"{label}: {best:.2f} s, {size / 1e6:.2f} MB page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
