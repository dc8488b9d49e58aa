#!/usr/bin/env bash
# The main job, locally: the whole chain on emulators and stand-ins, end to end.
# Installs what it needs into .venv, then runs `codetune demo` (arguments pass through:
# a dataset path, --timeout, --base-model, --out, --keep, --no-manifest).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/bootstrap.sh
exec .venv/bin/codetune demo "$@"
