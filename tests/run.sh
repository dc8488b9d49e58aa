#!/usr/bin/env bash
# The project's checks, as CI runs them: lint, types, then every test.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k corpus`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/local/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
