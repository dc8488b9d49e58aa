#!/usr/bin/env bash
# Regenerates the functions' pinned, hash-checked requirements from pyproject.toml: what every
# deployment installs (requirements.txt), with the near extra for a deployment with
# NEAR_DUPLICATES=on (requirements-near.txt), and with the evaluation extra for the function
# that evaluates tuned models (requirements-evaluation.txt). Run after changing a dependency; a test fails
# when the locks and pyproject.toml disagree. For the functions' runtime, Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || .venv/bin/pip install -q pip-tools
export CUSTOM_COMPILE_COMMAND="deploy/lock.sh"
.venv/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --output-file deploy/requirements.txt pyproject.toml
.venv/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --extra near --output-file deploy/requirements-near.txt pyproject.toml
.venv/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --extra evaluation --output-file deploy/requirements-evaluation.txt pyproject.toml
