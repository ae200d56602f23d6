#!/usr/bin/env bash
# The external contract test: schemathesis runs docs/openapi.json against the test site as a Memora
# Service user, a Memora Player and a Memora Admin, and fails on any 5xx, on a status the document does
# not list for the operation, or on a response that does not match its schema. The site must exist (scripts/test.sh makes it); called by scripts/test.sh, or by
# hand (see docs/api.md). Fixed seed and bounded examples: reproducible, a few minutes at most.
#
# Environment: MEMORA_BENCH (default $HOME/frappe-bench), MEMORA_TEST_SITE (memora.test),
# MEMORA_VENV (.venv), MEMORA_CONTRACT_SEED (20260416), MEMORA_CONTRACT_EXAMPLES (per operation, 25),
# MEMORA_CONTRACT_REPORTS (where the JSON/JUnit reports go; a temporary directory by default).
# Arguments are passed on to every `schemathesis run` (e.g. --include-path-regex 'memory\.').
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MEMORA_VENV:-.venv}"
bench_dir="${MEMORA_BENCH:-$HOME/frappe-bench}"
site="${MEMORA_TEST_SITE:-memora.test}"
seed="${MEMORA_CONTRACT_SEED:-20260416}"
examples="${MEMORA_CONTRACT_EXAMPLES:-25}"
schema="docs/openapi.json"

frappe_cli() { (cd "$bench_dir/sites" && "$bench_dir/env/bin/python" -m frappe.utils.bench_helper frappe "$@"); }

# One run at a time per bench. scripts/test.sh holds this lock already (on fd 9) and tells us so.
if [ -z "${MEMORA_BENCH_LOCKED:-}" ]; then
	exec 9>"$bench_dir/sites/.memora-test.lock"
	flock 9
fi

work="$(mktemp -d)"
reports="${MEMORA_CONTRACT_REPORTS:-$work/reports}"
server_pid=""
prepared=""
cleanup() {
	# The site's own tests expect no active season: put back the one the run activated.
	[ -z "$prepared" ] || frappe_cli --site "$site" execute memora.tests.contract.finish || true
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The site's web server on a free loopback port: gunicorn as in production (one sync worker, no
# debugger), bound to 127.0.0.1 only. It serves whichever site the X-Frappe-Site-Name header names.
port=$("$VENV/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
server_log="$bench_dir/logs/memora-contract-server.log"
(cd "$bench_dir/sites" && exec "$bench_dir/env/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 \
	--timeout 120 frappe.app:application) >"$server_log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
up=""
for _ in $(seq 1 60); do
	if curl -fsS -o /dev/null -H "X-Frappe-Site-Name: $site" "$base/api/method/ping" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 1
done
if [ -z "$up" ]; then
	tail -20 "$server_log" >&2
	echo "The site's web server did not answer on $base (log: $server_log)." >&2
	exit 1
fi

# Before each run: the users (Memora Service, Memora Player) with their API tokens, an active season and
# the endpoints' rate-limit counters cleared; and, as no worker serves the test site, no queued jobs.
prepare_site() {
	frappe_cli purge-jobs --site "$site" >/dev/null
	prepared=1
	tokens=$(frappe_cli --site "$site" execute memora.tests.contract.users | tail -1)
}
token() { printf '%s' "$tokens" | "$VENV/bin/python" -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

# Schemathesis keeps the failures it found in ./.schemathesis and replays them first next time: off, so a
# run depends on the seed only. The hooks leave out what Frappe answers before the app (see the file).
printf '[cache]\nenabled = false\n' >"$work/schemathesis.toml"
export SCHEMATHESIS_HOOKS="$PWD/scripts/contract_hooks.py"

# The admin run leaves out what would destroy or queue the test site's data for good (the other
# endpoints it calls with any arguments); those are covered by the site's own tests.
destructive='(drop_partition|delete_eligible_records|archive_season|flag_eligible_for_deletion|erase_player|erase_fan|clear_memory|replay_failed|start_season_action)$'

status=0
for kind in service player admin; do
	only=()
	[ "$kind" != admin ] || only=(--exclude-path-regex "$destructive")
	echo "== contract test as the Memora ${kind^} user ($base, seed $seed, $examples examples per operation)"
	prepare_site
	mkdir -p "$reports/$kind"
	if ! "$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$schema" --url "$base" \
		-H "X-Frappe-Site-Name: $site" -H "Authorization: $(token "$kind")" \
		--checks not_a_server_error,response_schema_conformance,status_code_conformance \
		--phases examples,coverage,fuzzing \
		--seed "$seed" --max-examples "$examples" --workers 1 \
		--generation-database none --generation-with-security-parameters false \
		--suppress-health-check all --no-color \
		--report junit,ndjson --report-dir "$reports/$kind" \
		"${only[@]}" "$@"; then
		status=1
	fi
done
frappe_cli purge-jobs --site "$site" >/dev/null
[ -z "${MEMORA_CONTRACT_REPORTS:-}" ] || echo "Reports: $reports"
exit "$status"
