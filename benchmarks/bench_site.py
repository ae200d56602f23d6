"""Figures that need a Frappe bench: Memora through Frappe's HTTP stack and beside Frappe's document path.

The bench is $MEMORA_BENCH or ~/frappe-bench, the site $MEMORA_BENCH_SITE or memora.test; without one
this prints a note and measures nothing. The in-site parts run in the bench's Python through
benchmarks/site_probe.py. At --scale 1:
- what `GET /api/method/memora.api.reviews.get_review_session` adds on top of `GET /api/method/ping`
  at p50: 2,000 requests of each with token auth over one keep-alive connection, in alternating blocks
  of 100, to a one-worker gunicorn (as `bench setup production` runs it) started here on 127.0.0.1;
  the player has 50 due trackers and a loaded Redis queue, and the review rate limit is lifted for the
  run (its bookkeeping is still paid);
- rows/s of `persist_review_batch` vs `frappe.get_doc(...).insert()` per row, 5,000 rows each in
  batches of 500 taking turns, one commit per batch on both sides.
Everything created (season, partition, rows, player, Redis queue) is removed at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.harness import Context, Result, p50

REPO = Path(__file__).resolve().parents[1]
REQUESTS = 2000
BLOCK = 100
TRACKERS = 50
PERSIST_ROWS = 5000
PERSIST_BATCH = 500
PING = "/api/method/ping"
SESSION = "/api/method/memora.api.reviews.get_review_session?season={season}"
SERVER_START_TIMEOUT = 60


def bench_path() -> Path | None:
	path = Path(os.environ.get("MEMORA_BENCH") or Path.home() / "frappe-bench").expanduser()
	return path if (path / "env" / "bin" / "python").exists() and (path / "sites").is_dir() else None


def site_name(bench: Path) -> str | None:
	site = os.environ.get("MEMORA_BENCH_SITE", "memora.test")
	return site if (bench / "sites" / site / "site_config.json").exists() else None


def probe(bench: Path, site: str, command: str, args: dict | None = None) -> dict:
	"""Run one site_probe command in the bench's Python; its last line of output is the JSON answer."""
	completed = subprocess.run(
		[
			str(bench / "env" / "bin" / "python"),
			"-m",
			"benchmarks.site_probe",
			site,
			command,
			json.dumps(args or {}),
		],
		cwd=bench / "sites",
		env={**os.environ, "PYTHONPATH": str(REPO)},
		capture_output=True,
		text=True,
		check=True,
	)
	return json.loads(completed.stdout.strip().splitlines()[-1])


def free_port() -> int:
	with socket.socket() as sock:
		sock.bind(("127.0.0.1", 0))
		return sock.getsockname()[1]


@contextmanager
def web_server(bench: Path, site: str) -> Iterator[int]:
	"""A one-worker gunicorn serving the bench's sites on 127.0.0.1; yields its port once it answers."""
	port = free_port()
	log = open(bench / "logs" / "memora-bench-site-gunicorn.log", "ab")
	server = subprocess.Popen(
		[
			str(bench / "env" / "bin" / "gunicorn"),
			"-b",
			f"127.0.0.1:{port}",
			"-w",
			"1",
			"-t",
			"120",
			"--preload",
			"frappe.app:application",
		],
		cwd=bench / "sites",
		stdout=log,
		stderr=log,
	)
	try:
		wait_for_server(port, site, server)
		yield port
	finally:
		server.terminate()
		server.wait(timeout=30)
		log.close()


def wait_for_server(port: int, site: str, server: subprocess.Popen) -> None:
	deadline = time.monotonic() + SERVER_START_TIMEOUT
	while time.monotonic() < deadline:
		if server.poll() is not None:
			raise RuntimeError(f"gunicorn exited with {server.returncode}")
		try:
			conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
			conn.request("GET", PING, headers={"Host": site})
			if conn.getresponse().status == 200:
				conn.close()
				return
		except OSError:
			time.sleep(0.2)
	raise RuntimeError("gunicorn did not answer within the start timeout")


def timed_get(conn: http.client.HTTPConnection, path: str, headers: dict) -> float:
	"""One request on the kept-alive connection, body read; milliseconds. A non-200 answer is an error."""
	start = time.perf_counter()
	conn.request("GET", path, headers=headers)
	response = conn.getresponse()
	body = response.read()
	elapsed = (time.perf_counter() - start) * 1000
	if response.status != 200:
		raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
	return elapsed


def http_overhead(bench: Path, site: str, requests: int) -> Result:
	setup = probe(bench, site, "setup_http", {"trackers": TRACKERS})
	try:
		with web_server(bench, site) as port:
			conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
			headers = {"Host": site, "Authorization": f"token {setup['token']}", "Connection": "keep-alive"}
			paths = {"ping": PING, "session": SESSION.format(season=setup["season"].replace(" ", "%20"))}
			times: dict[str, list[float]] = {name: [] for name in paths}
			for path in paths.values():
				for _ in range(BLOCK // 5):
					timed_get(conn, path, headers)
			for block in range(max(1, requests // BLOCK)):
				for name in paths if block % 2 == 0 else reversed(paths):
					times[name].extend(timed_get(conn, paths[name], headers) for _ in range(BLOCK))
			conn.close()
	finally:
		probe(bench, site, "teardown_http", setup)
	ping, session = p50(times["ping"]), p50(times["session"])
	added = session - ping
	return Result(
		"site",
		f"get_review_session over HTTP, added to ping (p50, {TRACKERS} due)",
		added,
		"ms",
		baseline=ping,
		baseline_label="GET /api/method/ping p50",
		target="≤ 1.5 ms",
		passed=added <= 1.5,
		notes="one gunicorn worker, token auth, one keep-alive connection",
		extra={
			"session_p50_ms": session,
			"requests_each": len(times["ping"]),
			"due_count": setup["due_count"],
		},
	)


def persistence_vs_documents(bench: Path, site: str, rows: int) -> Result:
	figures = probe(bench, site, "persistence", {"rows": rows, "batch": PERSIST_BATCH})
	ratio = figures["memora"] / figures["document"]
	return Result(
		"site",
		f"persist_review_batch rows/s (batches of {PERSIST_BATCH})",
		figures["memora"],
		"rows/s",
		baseline=figures["document"],
		baseline_label="get_doc().insert() per row",
		target="≥ 50x",
		passed=ratio >= 50,
		extra={"rows_each": figures["rows"]},
	)


def run(ctx: Context) -> list[Result]:
	bench = bench_path()
	site = site_name(bench) if bench else None
	if not site:
		print("bench_site: no Frappe bench with the site at $MEMORA_BENCH or ~/frappe-bench; skipped")
		return []
	scale = ctx.scale * (0.1 if ctx.quick else 1)
	requests = max(BLOCK * 2, int(REQUESTS * scale))
	rows = max(PERSIST_BATCH * 2, int(PERSIST_ROWS * scale))
	return [http_overhead(bench, site, requests), persistence_vs_documents(bench, site, rows)]
