#!/usr/bin/env bash
# The project's checks, as CI runs them: lint, types, then every test.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k corpus`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/local/bootstrap.sh
# The end-to-end tests start Google's Pub/Sub emulator (a Java program shipped with the Google
# Cloud CLI); say so plainly rather than fail deep inside a test.
emulator=${CODETUNE_PUBSUB_EMULATOR:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}
if [ ! -x "$emulator" ] && ! command -v gcloud >/dev/null; then
  echo "tests/run.sh: the Pub/Sub emulator is missing: install the Google Cloud CLI with its pubsub-emulator component, or set CODETUNE_PUBSUB_EMULATOR" >&2
  exit 2
fi
if ! command -v java >/dev/null; then
  echo "tests/run.sh: the Pub/Sub emulator needs Java 11 or newer (apt-get install default-jre-headless)" >&2
  exit 2
fi
# The report page is tested in a real headless browser: Chromium from the distribution.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "tests/run.sh: installing Chromium (apt-get install chromium)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    echo "tests/run.sh: the report page tests need Chromium (apt-get install chromium)" >&2
    exit 2
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
