#!/usr/bin/env bash
# The main job, locally: validate the shipped example datasets as the upload function will.
# (The issue that builds the chain of functions replaces this with `codetune demo`.)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/bootstrap.sh
for dataset in examples/code-generation.jsonl examples/code-chat.jsonl; do
  .venv/bin/codetune validate "$dataset"
done
.venv/bin/codetune validate --evaluation examples/code-generation-eval.jsonl
