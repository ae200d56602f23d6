"""The part of benchmarks/bench_site.py that runs inside a Frappe site, in the bench's own Python.

`python -m benchmarks.site_probe SITE COMMAND [JSON]`, run from the bench's sites/ folder with this repo
on PYTHONPATH; prints one JSON object. Commands:
- `setup_http`: a throwaway season and player (role Memora Player, API key and secret) with due
  trackers, the player's Redis queue loaded, and the review rate limit lifted for the run;
- `teardown_http`: undoes `setup_http` (takes what it printed);
- `persistence`: rows/s of `persist_review_batch` vs `frappe.get_doc(...).insert()` per row on a
  throwaway season, then removes the rows and the season;
- `data_import`: rows/s of a Data Import of trackers (one `insert()` and one commit per row, as
  Frappe's importer does, with `frappe.flags.in_import` set) with the players' queues kept in step
  by the document events, against the same import with those events' queue sync switched off.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone

import frappe

from benchmarks.bench_persistence import states
from benchmarks.harness import partitioned_season
from memora import runtime
from memora.memora.doctype.player_memory_tracker import player_memory_tracker
from memora.services.srs import keys, partitions, persistence, reviews
from memora.services.srs.queue import SRSRedisManager
from memora.tests.utils import unthrottled_user_creation

HTTP_SEASON = "Bench Site HTTP"
PERSISTENCE_SEASON = "Bench Site Persistence"
PLAYER = "bench-site-player@bench.invalid"
DAY = 86400
NO_RATE_LIMIT = 1_000_000


def new_season(season: str) -> None:
	"""A season with its own partition, made directly (no queued partition job left without a worker)."""
	drop_season(season)
	today = datetime.now(timezone.utc).date().isoformat()
	partitioned_season(season, today, "2099-12-31")


def drop_season(season: str) -> None:
	"""The season gone with its rows, partition and the audit rows its partition operations left."""
	frappe.db.sql("delete from `tabPlayer Memory Tracker` where season = %s", season)
	frappe.db.commit()
	partitions.drop_partition(season, force=True)
	frappe.db.sql("delete from `tabSRS Audit Log` where season = %s", season)
	frappe.db.sql("delete from `tabMemora Season` where name = %s", season)
	frappe.db.commit()


def set_rate_limit(limit: int) -> int:
	"""Set review_rate_limit; returns the previous value."""
	settings = frappe.get_single("Memora Settings")
	previous = settings.review_rate_limit
	settings.review_rate_limit = limit
	settings.save(ignore_permissions=True)
	frappe.db.commit()
	return previous


def bench_user(email: str, **fields):
	"""A user made for a run, however many the import benchmark made this hour."""
	with unthrottled_user_creation():
		doc = frappe.get_doc({"doctype": "User", "email": email, "send_welcome_email": 0, **fields})
		return doc.insert(ignore_permissions=True)


def setup_http(args: dict) -> dict:
	trackers = int(args["trackers"])
	new_season(HTTP_SEASON)
	if frappe.db.exists("User", PLAYER):
		frappe.delete_doc("User", PLAYER, force=True, ignore_permissions=True)
	api_secret = frappe.generate_hash(length=15)
	user = bench_user(
		PLAYER,
		first_name="Bench Player",
		roles=[{"role": "Memora Player"}],
		api_key=frappe.generate_hash(length=15),
		api_secret=api_secret,
	)
	frappe.db.commit()
	persistence.persist_review_batch(states("site", trackers, time.time() - 2 * DAY), PLAYER, HTTP_SEASON)
	session = reviews.get_review_session(PLAYER, season=HTTP_SEASON)
	return {
		"user": PLAYER,
		"season": HTTP_SEASON,
		"token": f"{user.api_key}:{api_secret}",
		"due_count": session["due_count"],
		"previous_rate_limit": set_rate_limit(NO_RATE_LIMIT),
	}


def teardown_http(args: dict) -> dict:
	set_rate_limit(int(args["previous_rate_limit"]))
	SRSRedisManager().clear_user_cache(args["user"], args["season"])
	drop_season(args["season"])
	frappe.delete_doc("User", args["user"], force=True, ignore_permissions=True)
	frappe.db.commit()
	return {"removed": True}


def tracker_doc(state: dict, season: str) -> dict:
	"""The Player Memory Tracker document `persist_review_batch` would write for one card state."""
	return {
		"doctype": "Player Memory Tracker",
		"player": "Administrator",
		"season": season,
		"question_id": state["question_id"],
		"subject": state["subject"],
		"topic": state["topic"],
		"stability": state["stability"],
		"difficulty": state["difficulty"],
		"state": state["state"],
		"step": state["step"],
		"reps": state["reps"],
		"lapses": state["lapses"],
		"last_rating": state["last_rating"],
		"last_review_date": runtime.from_ts(state["reviewed_at"]),
		"next_review_date": runtime.from_ts(state["next_review_ts"]),
		"last_review_id": state["review_id"],
	}


@contextlib.contextmanager
def document_path_only():
	"""The tracker's document events without their queue sync: the document path as it was before
	Memora kept queues in step with edits (the baselines here)."""
	saved = player_memory_tracker.sync_after_commit
	player_memory_tracker.sync_after_commit = lambda *docs: None
	try:
		yield
	finally:
		player_memory_tracker.sync_after_commit = saved


def memora_batch(label: str, batch: int) -> float:
	cards = states(f"m-{label}", batch, time.time())
	start = time.perf_counter()
	persistence.persist_review_batch(cards, "Administrator", PERSISTENCE_SEASON)
	return time.perf_counter() - start


def document_batch(label: str, batch: int) -> float:
	"""One `get_doc(...).insert()` per row, one commit per batch (as the Memora side commits per batch)."""
	docs = [tracker_doc(s, PERSISTENCE_SEASON) for s in states(f"d-{label}", batch, time.time())]
	start = time.perf_counter()
	with document_path_only():
		for doc in docs:
			frappe.get_doc(doc).insert(ignore_permissions=True)
		frappe.db.commit()
	return time.perf_counter() - start


def persistence_run(args: dict) -> dict:
	"""Both sides take turns batch by batch (who goes first swapping), after one untimed batch each.
	Labels are new in every run: a batch repeated within the idempotency window would not be written."""
	rows, batch = int(args["rows"]), int(args["batch"])
	sides: dict[str, Callable[[str, int], float]] = {"memora": memora_batch, "document": document_batch}
	spent = dict.fromkeys(sides, 0.0)
	run = frappe.generate_hash(length=8)
	new_season(PERSISTENCE_SEASON)
	try:
		for write in sides.values():
			write(f"{run}-warm", batch)
		count = max(1, rows // batch)
		for n in range(count):
			for name in sides if n % 2 == 0 else reversed(sides):
				spent[name] += sides[name](f"{run}-{n}", batch)
	finally:
		SRSRedisManager().clear_user_cache("Administrator", PERSISTENCE_SEASON)
		drop_season(PERSISTENCE_SEASON)
	return {name: count * batch / seconds for name, seconds in spent.items()} | {"rows": count * batch}


IMPORT_SEASONS = {"synced": "Bench Import Synced", "unsynced": "Bench Import Unsynced"}


def import_player(n: int) -> str:
	return f"bench-import-{n}@bench.invalid"


def import_rows(season: str, label: str, players: int, rows: int, synced: bool) -> float:
	"""Seconds to import `rows` trackers spread over `players` players, each row inserted and committed
	on its own; the synced side also pays the flush of the import's last queues (the after_job hook)."""
	docs = [
		{
			"doctype": "Player Memory Tracker",
			"player": import_player(n % players),
			"season": season,
			"question_id": f"{label}-{n}",
			"next_review_date": runtime.from_ts(time.time() + (n % 30) * DAY),
		}
		for n in range(rows)
	]
	docs.sort(key=lambda doc: doc["player"])  # an export lists a player's cards together
	frappe.flags.in_import = True
	start = time.perf_counter()
	try:
		with contextlib.nullcontext() if synced else document_path_only():
			for doc in docs:
				frappe.get_doc(doc).insert(ignore_permissions=True)
				frappe.db.commit()
			player_memory_tracker.sync_queues()
	finally:
		frappe.flags.in_import = False
	return time.perf_counter() - start


def data_import(args: dict) -> dict:
	"""Both sides take turns block by block, each on a season of its own. On the synced side every flush
	rewrites the queues of the players it touched (made by the first one), reading each player's rows."""
	rows, block, players = int(args["rows"]), int(args["block"]), int(args["players"])
	run = frappe.generate_hash(length=8)
	spent = dict.fromkeys(IMPORT_SEASONS, 0.0)
	for season in IMPORT_SEASONS.values():
		new_season(season)
	emails = [import_player(p) for p in range(players)]
	try:
		for email in emails:
			if not frappe.db.exists("User", email):
				bench_user(email, first_name="Bench")
		frappe.db.commit()
		for n in range(max(1, rows // block)):
			for side in IMPORT_SEASONS if n % 2 == 0 else reversed(IMPORT_SEASONS):
				spent[side] += import_rows(
					IMPORT_SEASONS[side], f"{run}-{n}", players, block, side == "synced"
				)
		client = runtime.redis_client()
		season = IMPORT_SEASONS["synced"]
		queued = sum(client.zcard(keys.queue_key(email, season)) for email in emails)
	finally:
		for season in IMPORT_SEASONS.values():
			for email in emails:
				SRSRedisManager().clear_user_cache(email, season)
			drop_season(season)
		for email in emails:
			frappe.delete_doc("User", email, force=True, ignore_permissions=True)
		frappe.db.commit()
	imported = max(1, rows // block) * block
	return {side: imported / seconds for side, seconds in spent.items()} | {
		"rows": imported,
		"queued": queued,
	}


COMMANDS = {
	"setup_http": setup_http,
	"teardown_http": teardown_http,
	"persistence": persistence_run,
	"data_import": data_import,
}


def main() -> None:
	site, command = sys.argv[1], sys.argv[2]
	args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
	frappe.init(site=site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		print(json.dumps(COMMANDS[command](args)))
	finally:
		frappe.destroy()


if __name__ == "__main__":
	main()
