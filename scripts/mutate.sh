#!/usr/bin/env bash
# Mutation testing of the core modules: mutmut (pyproject.toml [tool.mutmut] names the modules and the
# tests that cover them) in the project's virtualenv, stopped at a time budget. Arguments go to
# `mutmut run`, e.g. a glob of mutant names: ./scripts/mutate.sh "memora.services.rate_limits*".
# Results stay in mutants/ (ignored by git): a run after a stop goes on where it stopped, and only
# functions changed since are mutated again. Survivors that only a fault test can reach are then run
# against it (scripts/mutation_faults.py). The report: mutants/report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
VENV="${MEMORA_VENV:-.venv}"
budget="${MEMORA_MUTATE_BUDGET:-6000}"

"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements-mutate.txt
set +e
timeout "$budget" "$VENV/bin/mutmut" run "$@"
status=$?
set -e
if [ "$status" -eq 124 ]; then
	echo "mutmut stopped at the budget of $budget s (MEMORA_MUTATE_BUDGET); run it again to go on."
elif [ "$status" -ne 0 ]; then
	exit "$status"
fi
"$VENV/bin/mutmut" results --all true >mutants/results.txt
"$VENV/bin/python" scripts/mutation_faults.py <mutants/results.txt
"$VENV/bin/python" scripts/mutation_report.py <mutants/results.txt | tee mutants/report.txt
