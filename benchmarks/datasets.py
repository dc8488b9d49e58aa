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
    """(prompt, code) pairs: the code of one function, asked for with the module's code before it.

    Functions are gathered until they reach `example_bytes`: the last one is the answer, the
    others are the context the prompt shows (as a code-completion request would).
    """
    functions = _library()
    index = skip % len(functions)
    cycle = 0
    while True:  # cycle through the library as often as the caller needs
        batch: list[tuple[str, str, str, str]] = []
        size = 0
        while size < max(example_bytes, 1) or not batch:
            batch.append(functions[index])
            size += len(functions[index][3])
            index = (index + 1) % len(functions)
            cycle += index == 0
        yield _prompt(batch, cycle), batch[-1][3]


def _prompt(batch: list[tuple[str, str, str, str]], cycle: int) -> str:
    module, signature, summary, _ = batch[-1]
    # Later passes over the library ask for another variant, so that no two examples are equal.
    variant = f" (variant {cycle + 1})" if cycle else ""
    prompt = (
        f"Write the code in Python: the function `{signature}` of the `{module}` module{variant}."
    )
    prompt += f"\nIt should: {summary}"
    if len(batch) > 1:
        before = "\n\n\n".join(f[3] for f in batch[:-1])
        prompt += f"\nThe code that comes before it:\n```python\n{before}\n```"
    return prompt


def generation_examples(count: int, example_bytes: int = 0, skip: int = 0) -> Iterator[bytes]:
    """`count` code-generation lines of about `example_bytes` of code each (0: one function).

    `skip` leaves out the library's first functions, to make a dataset that shares no example
    with another (an evaluation dataset beside its training dataset).
    """
    for _, (prompt, code) in zip(range(count), _pieces(example_bytes, skip), strict=False):
        yield orjson.dumps({"input_text": prompt, "output_text": f"```python\n{code}\n```"})


def chat_examples(count: int, example_bytes: int = 0, follow_up: bool = True) -> Iterator[bytes]:
    """`count` code-chat lines: a question and the code, then (`follow_up`) a second exchange."""
    for _, (prompt, code) in zip(range(count), _pieces(example_bytes), strict=False):
        messages = [
            {"author": "user", "content": prompt},
            {"author": "assistant", "content": f"Here is the code:\n\n```python\n{code}\n```"},
        ]
        if follow_up:
            messages += [
                {"author": "user", "content": "Show its first lines again."},
                {"author": "assistant", "content": f"```python\n{code[:200]}\n```"},
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
    write(folder / "code-generation.eval.jsonl", generation_examples(12, skip=400))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
