"""deploy/requirements*.txt: what the functions install, pinned with hashes, generated from
pyproject.toml by deploy/lock.sh. A dependency changed on one side only fails here."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", re.M)


def pins(name: str) -> dict[str, tuple[str, int]]:
    """{package: (version, hashes)} of a lock."""
    text = (ROOT / "deploy" / name).read_text()
    assert "deploy/lock.sh" in text.split("\n\n")[0], f"{name}: not written by deploy/lock.sh"
    found = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(block)
        if match:
            found[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return found


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("requirements.txt", []),
        ("requirements-near.txt", ["near"]),
        ("requirements-evaluation.txt", ["evaluation"]),
    ],
)
def test_every_dependency_is_pinned_with_hashes_within_pyproject(
    lock: str, extras: list[str]
) -> None:
    locked = pins(lock)
    assert locked and all(hashes >= 1 for _, hashes in locked.values()), lock
    wanted = [
        *PYPROJECT["dependencies"],
        *(d for extra in extras for d in PYPROJECT["optional-dependencies"][extra]),
    ]
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock}: {name} is in pyproject.toml, not in the lock"
        assert requirement.specifier.contains(locked[name][0]), (lock, name, locked[name])


def test_the_base_lock_ships_no_near_duplicate_stack_and_no_grpc() -> None:
    base, near = pins("requirements.txt"), pins("requirements-near.txt")
    for heavy in ("datasketch", "numpy", "scipy", "google-cloud-pubsub", "grpcio"):
        assert heavy not in base, heavy
    assert {"datasketch", "numpy", "scipy"} <= set(near)
    assert {name: pin for name, pin in near.items() if name in base} == base
    evaluation = pins("requirements-evaluation.txt")
    assert {"sacrebleu", "tree-sitter"} <= set(evaluation)
    assert {name: pin for name, pin in evaluation.items() if name in base} == base


def test_each_function_ships_the_lock_it_needs(tmp_path: Path) -> None:
    """The near lock where a deployment turns the check on; the evaluation lock for the
    evaluate function, and only for it, whatever NEAR_DUPLICATES is."""

    def copied(near: str) -> dict[str, str]:
        settings = tmp_path / f"{near}.env"
        settings.write_text(f"NEAR_DUPLICATES={near}\nCODETUNE_MAX_TRAINING_TOKENS=1000\n")
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / "deploy.sh"), "--project", "acme-ml", "--region",
             "us-central1", "--bucket", "acme-drop", "--settings", str(settings), "--dry-run"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        locks = {}
        for line in result.stdout.splitlines():
            words = line.split()
            if words[0] == "cp" and words[-1].endswith("/requirements.txt"):
                function = Path(words[-1]).parent.name
                assert function not in locks, function
                locks[function] = Path(words[1]).relative_to(ROOT).as_posix()
        return locks

    functions = {"validate", "tune", "status", "sweep", "evaluate"}
    for near, lock in (("off", "deploy/requirements.txt"), ("on", "deploy/requirements-near.txt")):
        assert copied(near) == {
            f: "deploy/requirements-evaluation.txt" if f == "evaluate" else lock for f in functions
        }, near
