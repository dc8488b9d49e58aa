"""The package's import graph has no cycle, the two backends never import each other, and
the pure parts (dataset/, tuning/ but the backends) import no client."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "codetune"


def module_name(path: Path) -> str:
    parts = ("codetune", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The codetune modules `name` imports, anywhere in it (type-checking imports included)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.add(target if target in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def test_there_is_no_import_cycle() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_backends_never_import_each_other() -> None:
    assert "codetune.tuning.backends.pipeline" not in GRAPH["codetune.tuning.backends.gemini"]
    assert "codetune.tuning.backends.gemini" not in GRAPH["codetune.tuning.backends.pipeline"]


def test_the_pure_parts_import_no_client() -> None:
    clients = {"codetune.storage", "codetune.pubsub", "codetune.vertex", "codetune.app"}
    pure = [
        n
        for n in GRAPH
        if n.startswith(("codetune.dataset", "codetune.tuning")) and ".backends" not in n
    ]
    assert {n: sorted(GRAPH[n] & clients) for n in pure if GRAPH[n] & clients} == {}
