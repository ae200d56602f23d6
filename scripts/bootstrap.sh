#!/usr/bin/env bash
# Shared by the test and demo commands: a virtualenv with the pinned dependencies, and MariaDB +
# Redis answering on their usual ports (started if installed locally and stopped).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MEMORA_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
	"$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha"
want=$(cat requirements.txt requirements-dev.txt setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	log="$VENV/pip-install.log"
	if ! "$VENV/bin/pip" install --disable-pip-version-check -r requirements-dev.txt -e . >"$log" 2>&1; then
		tail -20 "$log" >&2
		echo "Installing the Python dependencies failed (full log: $log)." >&2
		exit 1
	fi
	echo "$want" > "$stamp"
fi

# The unit tier needs no services.
[ -z "${MEMORA_UNIT_ONLY:-}" ] || return 0

answers() { "$VENV/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)" "$1" 2>/dev/null; }
wait_for() { for _ in $(seq 1 30); do answers "$1" && return 0; sleep 1; done; return 1; }

if ! answers "${MEMORA_DB_PORT:-3306}"; then
	if [ -x /usr/sbin/mariadbd ]; then
		echo "MariaDB is not answering; starting the local mariadbd" >&2
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
	fi
	wait_for "${MEMORA_DB_PORT:-3306}" || { echo "MariaDB is not running on 127.0.0.1:${MEMORA_DB_PORT:-3306}: start it (root, empty password) and run again." >&2; exit 1; }
fi
if ! answers 6379; then
	if command -v redis-server >/dev/null; then
		echo "Redis is not answering; starting the local redis-server" >&2
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
	fi
	wait_for 6379 || { echo "Redis is not running on 127.0.0.1:6379: start it and run again." >&2; exit 1; }
fi
