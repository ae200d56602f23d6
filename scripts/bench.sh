#!/usr/bin/env bash
# Benchmarks against local MariaDB + Redis; see benchmarks/README.md for the options.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec "${MEMORA_VENV:-.venv}/bin/python" -m benchmarks "$@"
