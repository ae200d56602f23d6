#!/usr/bin/env bash
# The whole test suite: lint, the standalone suite on real MariaDB + Redis + RQ workers, and the
# Frappe suite when a bench exists at $HOME/frappe-bench (or $MEMORA_BENCH).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
VENV="${MEMORA_VENV:-.venv}"

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

echo "== standalone suite (real MariaDB, Redis, RQ workers)"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
	echo "pytest collected no tests: that is a failure, not a pass." >&2
	exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

bench_dir="${MEMORA_BENCH:-$HOME/frappe-bench}"
if [ -d "$bench_dir/apps/frappe" ]; then
	echo "== Frappe suite in $bench_dir"
	site="${MEMORA_TEST_SITE:-memora.test}"
	app_dir="$bench_dir/apps/memora"
	if [ ! -e "$app_dir" ]; then
		ln -s "$(pwd)" "$app_dir"
		"$bench_dir/env/bin/pip" install --quiet -e "$app_dir"
		grep -qx memora "$bench_dir/sites/apps.txt" || echo memora >> "$bench_dir/sites/apps.txt"
	fi
	(
		cd "$bench_dir"
		if [ ! -d "sites/$site" ]; then
			bench new-site "$site" --db-root-password "" --admin-password admin --no-mariadb-socket
		fi
		bench --site "$site" set-config allow_tests true
		bench --site "$site" install-app memora 2>/dev/null || true
		bench --site "$site" migrate
		bench --site "$site" migrate
		bench --site "$site" run-tests --app memora
	)
else
	echo "== Frappe suite skipped: no bench at $bench_dir (bench init there to run it)."
fi
