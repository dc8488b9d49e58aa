"""The package's import graph has no cycle, the two backends never reach each other (nor does
the interface they share reach either), the generic parts of tuning/ reach neither backend, and
the pure parts (dataset/, tuning/, the backends, evaluation/) reach no client, directly or through another
module."""

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


def reach(name: str) -> set[str]:
    """Every codetune module that importing `name` imports, directly or not."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for target in GRAPH[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def package(name: str) -> set[str]:
    return {n for n in MODULES if n == name or n.startswith(f"{name}.")}


GEMINI = package("codetune.gemini") | {"codetune.tuning.backends.gemini"}
# The legacy pipeline's package and backend, but for its table (pipeline/models.py): the shared
# parameter table reads its regions, accelerators and checkpoint values.
LEGACY_TABLE = "codetune.pipeline.models"
PIPELINE = package("codetune.pipeline") | {"codetune.tuning.backends.pipeline"}
PIPELINE.remove(LEGACY_TABLE)
BACKENDS = package("codetune.tuning.backends")
GENERIC = package("codetune.tuning") - BACKENDS


def test_the_backends_never_reach_each_other_nor_does_their_interface() -> None:
    assert reach("codetune.tuning.backends.gemini") & PIPELINE == set()
    assert reach("codetune.tuning.backends.pipeline") & GEMINI == set()
    assert reach("codetune.tuning.backends.base") & (GEMINI | PIPELINE) == set()
    assert reach("codetune.vertex") & (GEMINI | PIPELINE) == set()  # the client knows transport


def test_the_generic_parts_reach_neither_backend() -> None:
    # The lists name what is there: a module moved elsewhere would leave them empty.
    assert {"codetune.gemini.plan", "codetune.pipeline.plan"} <= GEMINI | PIPELINE
    assert {"codetune.tuning.parameters", "codetune.tuning.common"} <= GENERIC
    backends = GEMINI | PIPELINE
    assert {n: sorted(reach(n) & backends) for n in GENERIC if reach(n) & backends} == {}


def test_the_legacy_table_reaches_nothing_of_tuning() -> None:
    """What reads the table reaches no more of the legacy backend through it."""
    assert reach(LEGACY_TABLE) & (GENERIC | BACKENDS | GEMINI | PIPELINE) == set()


def test_the_pure_parts_reach_no_client() -> None:
    clients = {"codetune.storage", "codetune.pubsub", "codetune.vertex", "codetune.app"}
    pure = [
        n
        for n in GRAPH
        if n.startswith(("codetune.dataset", "codetune.tuning", "codetune.evaluation"))
    ]
    assert "codetune.evaluation.verdict" in pure
    assert {n: sorted(reach(n) & clients) for n in pure if reach(n) & clients} == {}
