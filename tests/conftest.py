"""Each test folder is a marker: `-m unit` runs the pure tests in seconds; `integration` starts
the emulators, the stand-ins or the installed command; `deploy` parses the deployment with the
real gcloud and builds the wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

FOLDERS = ("unit", "integration", "deploy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = Path(item.path).relative_to(tests).parts[0]
        if folder not in FOLDERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(FOLDERS)}}}/")
        item.add_marker(getattr(pytest.mark, folder))
