#!/usr/bin/env bash
# The main job without a bench: a short end-to-end run of the services against local MariaDB + Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec "${MEMORA_VENV:-.venv}/bin/memora" demo "$@"
