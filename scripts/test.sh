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

if [ -z "${MEMORA_UNIT_ONLY:-}" ]; then
	# The data paths a second time with Memora's Redis a real 3-primary cluster on loopback ports
	# (tests/harness/redis_cluster.py); RQ stays on the plain Redis, as it must (docs/scaling.md).
	echo "== the data paths again on a Redis Cluster"
	"$VENV/bin/python" -m pytest --redis-cluster -m "not slow" \
		tests/test_redis_cluster.py tests/test_srs_reviews.py tests/test_srs_redis_manager.py \
		tests/test_pending_reviews.py tests/test_queue_coherence.py tests/test_srs_rebuild.py \
		tests/test_srs_persistence.py tests/test_srs_persistence_contract.py tests/test_srs_persistence_faults.py \
		tests/test_persistence_worker.py tests/test_review_log.py tests/test_reconciliation.py \
		tests/test_reconciliation_jobs.py tests/test_archiver.py tests/test_fan_memory_service.py \
		tests/test_fan_memory_recall.py tests/test_erasure.py tests/test_rate_limits.py tests/test_metrics_wiring.py
fi

bench_dir="${MEMORA_BENCH:-$HOME/frappe-bench}"
if [ -n "${MEMORA_UNIT_ONLY:-}" ]; then
	echo "== Frappe suite skipped: the unit tier needs no site"
elif [ -d "$bench_dir/apps/frappe" ]; then
	echo "== Frappe suite in $bench_dir"
	site="${MEMORA_TEST_SITE:-memora.test}"
	app_link="$bench_dir/apps/memora"
	apps_txt="$bench_dir/sites/apps.txt"
	checkout="$(pwd -P)"

	# What `bench --site SITE <command>` runs, without needing the bench CLI on PATH or a non-root user.
	# CI=1: Frappe's run-tests sets a failing exit status only then (and progress bars stay on one line).
	frappe_cli() { (cd "$bench_dir/sites" && CI=1 "$bench_dir/env/bin/python" -m frappe.utils.bench_helper frappe "$@"); }

	# One run at a time per bench: the app link, the site and its database are shared by every checkout.
	exec 9>"$bench_dir/sites/.memora-test.lock"
	flock 9

	# The bench runs this checkout, wherever it is (CI tests a fresh clone at another path).
	if [ -e "$app_link" ] && [ ! -L "$app_link" ]; then
		echo "$app_link is a directory, not a link to a checkout: move it away to test $checkout." >&2
		exit 1
	fi
	ln -sfn "$checkout" "$app_link"
	pip_log="$bench_dir/logs/memora-pip-install.log"
	# The app, and the test-only packages its site tests import (Hypothesis).
	test_packages=$(grep -E '^hypothesis' requirements-dev.txt)
	if ! "$bench_dir/env/bin/python" -m pip install --disable-pip-version-check -e "$app_link" $test_packages \
		>"$pip_log" 2>&1; then
		tail -20 "$pip_log" >&2
		echo "Installing memora into the bench's virtualenv failed (full log: $pip_log)." >&2
		exit 1
	fi
	if ! grep -qx memora "$apps_txt"; then
		[ -z "$(tail -c1 "$apps_txt")" ] || echo >>"$apps_txt"
		echo memora >>"$apps_txt"
	fi

	# A site that does not answer, or answers without Frappe installed (left half-made by an interrupted
	# or failed new-site), is made anew.
	if ! frappe_cli --site "$site" list-apps 2>/dev/null | grep -q '^frappe\b'; then
		echo "Creating the site $site"
		# new-site reads the MariaDB root password from stdin when it is empty (it is on this machine).
		printf '%s\n' "${MEMORA_DB_PASSWORD:-}" | frappe_cli new-site "$site" --force --admin-password admin \
			--db-root-username "${MEMORA_DB_USER:-root}" --db-root-password "${MEMORA_DB_PASSWORD:-}" \
			--no-mariadb-socket --db-host "${MEMORA_DB_HOST:-127.0.0.1}" --db-port "${MEMORA_DB_PORT:-3306}"
	fi
	frappe_cli --site "$site" set-config allow_tests true
	frappe_cli --site "$site" install-app memora
	frappe_cli --site "$site" migrate
	frappe_cli --site "$site" migrate
	# Jobs earlier runs queued (a run stopped half-way) would run on the worker below: drop them first.
	frappe_cli purge-jobs --site "$site"
	# The suite runs as production does, with the bench's workers serving the site: persistence jobs,
	# partition DDL and embeddings happen while the tests read and write (docs/architecture.md).
	(cd "$bench_dir/sites" && exec env CI=1 "$bench_dir/env/bin/python" -m frappe.utils.bench_helper frappe \
		worker --queue short,default,long) >"$bench_dir/logs/memora-test-worker.log" 2>&1 &
	worker_pid=$!
	# A Redis Cluster on loopback ports for the site test that names it in Memora Settings.
	cluster_url_file="$(mktemp)"
	"$VENV/bin/python" -m tests.harness.redis_cluster "$cluster_url_file" \
		>"$bench_dir/logs/memora-test-cluster.log" 2>&1 &
	cluster_pid=$!
	trap 'kill "$worker_pid" "$cluster_pid" 2>/dev/null' EXIT
	for _ in $(seq 600); do [ -s "$cluster_url_file" ] && break; sleep 0.1; done
	export MEMORA_TEST_REDIS_CLUSTER_URL="$(cat "$cluster_url_file")"
	frappe_cli --site "$site" run-tests --app memora
	kill "$worker_pid" "$cluster_pid" && wait "$worker_pid" "$cluster_pid" 2>/dev/null || true
	trap - EXIT
	rm -f "$cluster_url_file"

	# The external contract: schemathesis against docs/openapi.json on the site (this lock is held).
	MEMORA_BENCH_LOCKED=1 MEMORA_BENCH="$bench_dir" MEMORA_TEST_SITE="$site" MEMORA_VENV="$VENV" \
		./scripts/contract.sh

	# Desk in headless Chromium (Debian's chromium + chromedriver, installed here when missing). It needs
	# the bench's assets built (bench build); without them or without chromium it is skipped with the reason.
	if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
		apt_log="$bench_dir/logs/memora-chromium-install.log"
		if ! (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver) >"$apt_log" 2>&1; then
			echo "Installing chromium with apt-get failed (log: $apt_log): the Desk browser test will be skipped."
		fi
	fi
	echo "== Desk browser test in $bench_dir"
	MEMORA_DESK_BROWSER=1 MEMORA_BENCH="$bench_dir" MEMORA_TEST_SITE="$site" "$VENV/bin/python" -m pytest -q -rs \
		tests/test_desk_browser.py
else
	echo "== Frappe suite skipped: no bench at $bench_dir (bench init there to run it)."
fi
