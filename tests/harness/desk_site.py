"""The in-site half of tests/test_desk_browser.py, run in the bench's own Python.

`python -m tests.harness.desk_site SITE COMMAND SEASON [JSON]`, from the bench's sites/ folder with this
repo on PYTHONPATH; prints one JSON object. Commands:
- `setup`: a throwaway partitioned season with a few trackers of Administrator's, and no Redis queue,
  so the rebuild the browser starts is what creates it; the setup wizard is marked done (a fresh
  site sends Desk there) and the previous mark is answered for `teardown`;
- `queue_keys`: the size of Administrator's queue for the season and the season's players in Redis;
- `teardown`: the queue, the rows, the partition and the season gone, the wizard mark as it was.
"""

from __future__ import annotations

import json
import sys
import time

import frappe

from benchmarks.bench_persistence import states
from benchmarks.site_probe import drop_season, new_season
from memora import runtime
from memora.services.srs import keys, persistence, queue_sync
from memora.services.srs.queue import SRSRedisManager

PLAYER = "Administrator"
TRACKERS = 5
DAY = 86400


def set_setup_complete(value: int) -> int:
	"""Set System Settings' setup_complete; returns the previous value."""
	previous = frappe.db.get_single_value("System Settings", "setup_complete")
	frappe.db.set_single_value("System Settings", "setup_complete", value)
	frappe.db.commit()
	frappe.clear_cache(doctype="System Settings")
	return previous


def setup(season: str, args: dict) -> dict:
	new_season(season)
	# Fresh review ids each run: the idempotency window would skip a batch an earlier run wrote.
	cards = states(f"desk-{frappe.generate_hash(length=8)}", TRACKERS, time.time() - 2 * DAY)
	persistence.persist_review_batch(cards, PLAYER, season)
	SRSRedisManager().clear_user_cache(PLAYER, season)
	return {"trackers": TRACKERS, "setup_complete": set_setup_complete(1)}


def queue_keys(season: str, args: dict) -> dict:
	client = runtime.redis_client()
	return {
		"queue": client.zcard(keys.queue_key(PLAYER, season)),
		"players": sorted(queue_sync.season_players(season, 100)),
	}


def teardown(season: str, args: dict) -> dict:
	SRSRedisManager().clear_user_cache(PLAYER, season)
	drop_season(season)
	if "setup_complete" in args:
		set_setup_complete(args["setup_complete"])
	return {"removed": True}


COMMANDS = {"setup": setup, "queue_keys": queue_keys, "teardown": teardown}


def main() -> None:
	site, command, season = sys.argv[1:4]
	args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
	frappe.init(site=site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		print(json.dumps(COMMANDS[command](season, args)))
	finally:
		frappe.destroy()


if __name__ == "__main__":
	main()
