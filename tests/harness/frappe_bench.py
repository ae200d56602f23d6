"""A Frappe bench on this machine, for the browser test and the site benchmarks: where it is, code run
inside its site, and the site served on loopback.

The bench is $MEMORA_BENCH or ~/frappe-bench; the site is $MEMORA_TEST_SITE or memora.test, the
names scripts/test.sh uses for the Frappe suite.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.net import free_port

REPO = Path(__file__).resolve().parents[2]
PING = "/api/method/ping"
SERVER_START_TIMEOUT = 60


def bench_dir() -> Path:
	return Path(os.environ.get("MEMORA_BENCH") or Path.home() / "frappe-bench").expanduser()


def site_name() -> str:
	return os.environ.get("MEMORA_TEST_SITE", "memora.test")


def python() -> str:
	return str(bench_dir() / "env" / "bin" / "python")


def has_site() -> bool:
	bench = bench_dir()
	return (bench / "env" / "bin" / "gunicorn").exists() and (
		bench / "sites" / site_name() / "site_config.json"
	).exists()


def run_in_site(module: str, *args: str, timeout: float | None = None) -> dict:
	"""`python -m module <site> args...` in the bench's Python (this checkout importable); its last line
	of output is the JSON answer."""
	completed = subprocess.run(
		[python(), "-m", module, site_name(), *args],
		cwd=bench_dir() / "sites",
		env={**os.environ, "PYTHONPATH": str(REPO)},
		capture_output=True,
		text=True,
		timeout=timeout,
	)
	if completed.returncode:
		raise RuntimeError(f"{module} {' '.join(args[:1])} failed:\n{completed.stderr[-2000:]}")
	return json.loads(completed.stdout.strip().splitlines()[-1])


@contextmanager
def bench_process(args: list[str], log_name: str) -> Iterator[subprocess.Popen]:
	"""A process run from the bench's sites/, logging to its logs/; terminated (then killed) at the end."""
	bench = bench_dir()
	with open(bench / "logs" / log_name, "ab") as log:
		proc = subprocess.Popen(args, cwd=bench / "sites", stdout=log, stderr=log)
		try:
			yield proc
		finally:
			proc.terminate()
			try:
				proc.wait(timeout=20)
			except subprocess.TimeoutExpired:
				proc.kill()
				proc.wait()


@contextmanager
def web_server(app: str, log_name: str) -> Iterator[int]:
	"""A one-worker gunicorn serving `app` (e.g. "frappe.app:application") on 127.0.0.1; yields its port
	once the site answers ping."""
	port = free_port()
	gunicorn = str(bench_dir() / "env" / "bin" / "gunicorn")
	args = [gunicorn, "-b", f"127.0.0.1:{port}", "-w", "1", "-t", "120", "--preload", app]
	with bench_process(args, log_name) as server:
		wait_for_ping(port, server, log_name)
		yield port


def wait_for_ping(port: int, server: subprocess.Popen, log_name: str) -> None:
	deadline = time.monotonic() + SERVER_START_TIMEOUT
	while time.monotonic() < deadline:
		if server.poll() is not None:
			raise RuntimeError(f"gunicorn exited with {server.returncode}; see logs/{log_name}")
		try:
			conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
			conn.request("GET", PING, headers={"Host": site_name()})
			if conn.getresponse().status == 200:
				conn.close()
				return
		except OSError:
			pass
		time.sleep(0.2)
	raise RuntimeError(f"gunicorn did not answer within {SERVER_START_TIMEOUT} s; see logs/{log_name}")
