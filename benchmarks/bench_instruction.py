"""S-7's matcher, old against new, inside the whole validator, same run: the regex of ~70
boundary-led alternatives (the rule's definition, `prompts.INSTRUCTION`) against the
Aho-Corasick pass that replaced it (`prompts.has_instruction`).

    .venv/bin/python -m benchmarks.bench_instruction [--repeat 5] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import realistic
from codetune.dataset import DatasetKind, prompts, validate_path
from codetune.tuning.backends import default_rules


def regex(opening: str) -> bool:
    return prompts.INSTRUCTION.search(opening) is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    fast = prompts.has_instruction
    print(f"CPU time, best of {args.repeat} interleaved rounds; MB/s of the whole validator")
    print("| file | S-7 by regex | S-7 by Aho-Corasick | speed-up |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        files = [
            ("realistic generation", DatasetKind.GENERATION,
             realistic.generation_lines(max(20, int(realistic.GENERATION_EXAMPLES * args.scale)))),
            ("realistic chat", DatasetKind.CHAT,
             realistic.chat_lines(max(20, int(realistic.CHAT_EXAMPLES * args.scale)))),
        ]  # fmt: skip
        for name, kind, lines in files:
            path = realistic.write(lines, Path(folder) / "data.jsonl")
            best = {"regex": float("inf"), "aho-corasick": float("inf")}
            try:
                for _ in range(args.repeat):
                    for label, matcher in (("regex", regex), ("aho-corasick", fast)):
                        prompts.has_instruction = matcher  # type: ignore[assignment]
                        gc.collect()
                        start = time.process_time()
                        validate_path(path, kind, rules=default_rules())
                        best[label] = min(best[label], time.process_time() - start)
            finally:
                prompts.has_instruction = fast
            size = path.stat().st_size
            old, new = (size / best[k] / 1e6 for k in ("regex", "aho-corasick"))
            print(f"| {name} | {old:.1f} MB/s | {new:.1f} MB/s | {new / old:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
