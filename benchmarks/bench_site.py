"""Figures that need a Frappe bench: Memora through Frappe's HTTP stack and beside Frappe's document path.

The bench is $MEMORA_BENCH or ~/frappe-bench, the site $MEMORA_TEST_SITE or memora.test; without one
this prints a note and measures nothing. The in-site parts run in the bench's Python through
benchmarks/site_probe.py. At --scale 1:
- what `GET /api/method/memora.api.reviews.get_review_session` adds on top of `GET /api/method/ping`
  at p50: 2,000 requests of each with token auth, in alternating blocks of 100, to a one-worker
  gunicorn (as `bench setup production` runs it) started here on 127.0.0.1 (its sync worker closes the
  connection after each answer, so every request, ping included, opens a new one);
  the player has 50 due trackers and a loaded Redis queue, and the review rate limit is lifted for the
  run (its bookkeeping is still paid);
- rows/s of `persist_review_batch` vs `frappe.get_doc(...).insert()` per row, 20,000 rows each in
  batches of 500 taking turns, one commit per batch on both sides (the document path takes about
  half a minute: long enough that a slow spell of the machine lands on both sides);
- rows/s of a Data Import of 10,000 trackers of 100 players with the queue sync of the tracker's
  document events, against the same import with that sync off, in blocks of 1,000 taking turns.
Everything created (season, partition, rows, player, Redis queue) is removed at the end.
"""

from __future__ import annotations

import http.client
import json
import time

from benchmarks.harness import Context, Result, p50
from tests.harness import frappe_bench

REQUESTS = 2000
BLOCK = 100
TRACKERS = 50
PERSIST_ROWS = 20_000
PERSIST_BATCH = 500
IMPORT_ROWS = 10_000
IMPORT_BLOCK = 1_000
IMPORT_PLAYERS = 100
SESSION = "/api/method/memora.api.reviews.get_review_session?season={season}"


def probe(command: str, args: dict | None = None) -> dict:
	return frappe_bench.run_in_site("benchmarks.site_probe", command, json.dumps(args or {}))


def timed_get(conn: http.client.HTTPConnection, path: str, headers: dict) -> float:
	"""One request (http.client reconnects when the server has closed), body read; milliseconds. A non-200
	answer is an error."""
	start = time.perf_counter()
	conn.request("GET", path, headers=headers)
	response = conn.getresponse()
	body = response.read()
	elapsed = (time.perf_counter() - start) * 1000
	if response.status != 200:
		raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
	return elapsed


def http_overhead(site: str, requests: int) -> Result:
	setup = probe("setup_http", {"trackers": TRACKERS})
	try:
		with frappe_bench.web_server("frappe.app:application", "memora-bench-site-gunicorn.log") as port:
			conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
			headers = {"Host": site, "Authorization": f"token {setup['token']}"}
			paths = {
				"ping": frappe_bench.PING,
				"session": SESSION.format(season=setup["season"].replace(" ", "%20")),
			}
			times: dict[str, list[float]] = {name: [] for name in paths}
			for path in paths.values():
				for _ in range(BLOCK // 5):
					timed_get(conn, path, headers)
			for block in range(max(1, requests // BLOCK)):
				for name in paths if block % 2 == 0 else reversed(paths):
					times[name].extend(timed_get(conn, paths[name], headers) for _ in range(BLOCK))
			conn.close()
	finally:
		probe("teardown_http", setup)
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
		notes="one gunicorn worker, token auth, a new connection per request",
		extra={
			"session_p50_ms": session,
			"requests_each": len(times["ping"]),
			"due_count": setup["due_count"],
		},
	)


def persistence_vs_documents(rows: int) -> Result:
	figures = probe("persistence", {"rows": rows, "batch": PERSIST_BATCH})
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


def data_import(rows: int) -> Result:
	figures = probe("data_import", {"rows": rows, "block": IMPORT_BLOCK, "players": IMPORT_PLAYERS})
	return Result(
		"site",
		f"Data Import of trackers with the queues kept in step, rows/s ({IMPORT_PLAYERS} players)",
		figures["synced"],
		"rows/s",
		baseline=figures["unsynced"],
		baseline_label="the same import, queue sync off",
		notes="one insert and one commit per row (Frappe's importer); queues synced every 500 edits and at the end",
		extra={"rows_each": figures["rows"], "cards_in_queues": figures["queued"]},
	)


def run(ctx: Context) -> list[Result]:
	if not frappe_bench.has_site():
		print(
			f"bench_site: no Frappe bench with site {frappe_bench.site_name()} at {frappe_bench.bench_dir()}; skipped"
		)
		return []
	site = frappe_bench.site_name()
	scale = ctx.scale * (0.1 if ctx.quick else 1)
	requests = max(BLOCK * 2, int(REQUESTS * scale))
	rows = max(PERSIST_BATCH * 2, int(PERSIST_ROWS * scale))
	imported = max(IMPORT_BLOCK * 2, int(IMPORT_ROWS * scale))
	return [http_overhead(site, requests), persistence_vs_documents(rows), data_import(imported)]
