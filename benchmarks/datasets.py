"""Realistic tuning datasets made from real code: the Python standard library's own source.

Each example asks for a function (or a run of a module's functions) by name, signature and
docstring, and answers with its source. Used by the benchmarks, by tests that need many valid
examples, and to write the example datasets shipped in `examples/`:

    python -m benchmarks.datasets examples/
"""

from __future__ import annotations

import ast
import functools
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import orjson

_MODULES_DIR = Path(sysconfig.get_paths()["stdlib"])
_CONTEXT = (
    "You are a Python expert who writes clear, idiomatic standard-library code with docstrings."
)


@functools.cache
def _library() -> list[tuple[str, str, str, str]]:
    functions = list(_functions())
    if not functions:
        raise RuntimeError(f"no documented functions found under {_MODULES_DIR}")
    return functions


def _functions() -> Iterator[tuple[str, str, str, str]]:
    """(module, signature, first docstring line, source) of documented stdlib functions."""
    for path in sorted(_MODULES_DIR.glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node)
            code = ast.get_source_segment(source, node)
            if not doc or not code:
                continue
            signature = f"{node.name}({ast.unparse(node.args)})"
            yield path.stem, signature, doc.strip().splitlines()[0], code


def _pieces(example_bytes: int, skip: int = 0) -> Iterator[tuple[str, str]]:
    """(prompt, code) pairs, each gathering functions until the code reaches example_bytes."""
    functions = _library()
    index = skip % len(functions)
    while True:  # cycle through the library as often as the caller needs
        batch: list[tuple[str, str, str, str]] = []
        size = 0
        while size < max(example_bytes, 1):
            batch.append(functions[index])
            size += len(functions[index][3])
            index = (index + 1) % len(functions)
        yield _prompt(batch), "\n\n\n".join(f[3] for f in batch)


def _prompt(batch: list[tuple[str, str, str, str]]) -> str:
    module = batch[0][0]
    wanted = "\n".join(f"- {signature}: {summary}" for _, signature, summary, _ in batch)
    return f"Write the code in Python: functions for the `{module}` module.\n{wanted}"


def generation_examples(count: int, example_bytes: int = 0, skip: int = 0) -> Iterator[bytes]:
    """`count` code-generation lines, each answer about `example_bytes` of code (0: one function).

    `skip` leaves out the library's first functions, to make a dataset that shares no example
    with another (an evaluation dataset beside its training dataset).
    """
    pieces = _pieces(example_bytes, skip)
    for index, (prompt, code) in zip(range(count), pieces, strict=False):
        # A version suffix keeps examples distinct when the library is cycled through again.
        suffix = f" (variant {index // 2000 + 1})" if index >= 2000 else ""
        yield orjson.dumps(
            {"input_text": prompt + suffix, "output_text": f"```python\n{code}\n```"}
        )


def chat_examples(count: int, example_bytes: int = 0) -> Iterator[bytes]:
    """`count` code-chat lines: a question, the code, a follow-up and its answer."""
    for index, (prompt, code) in zip(range(count), _pieces(example_bytes), strict=False):
        suffix = f" (variant {index // 2000 + 1})" if index >= 2000 else ""
        messages = [
            {"author": "user", "content": prompt + suffix},
            {"author": "assistant", "content": f"Here is the code:\n\n```python\n{code}\n```"},
            {"author": "user", "content": "Add a short usage example."},
            {"author": "assistant", "content": f"```python\n# see the docstrings\n{code[:200]}\n```"},
        ]
        yield orjson.dumps({"context": _CONTEXT, "messages": messages})


def write(path: Path, lines: Iterator[bytes]) -> int:
    """Write the lines as a JSONL file; return its size in bytes."""
    with path.open("wb") as out:
        for line in lines:
            out.write(line + b"\n")
    return path.stat().st_size


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "examples")
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "code-generation.jsonl", generation_examples(24))
    write(folder / "code-chat.jsonl", chat_examples(16))
    write(folder / "code-generation-eval.jsonl", generation_examples(12, skip=400))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
