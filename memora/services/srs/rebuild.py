"""Season rebuild: every queue of a season made exactly its player's rows overlaid with their pending
reviews, page by page, while players keep reviewing (Desk's Rebuild Cache, the CLI, after a bulk
change)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from memora import runtime
from memora.exceptions import NotAllowed
from memora.services import validation
from memora.services.srs import in_flight, queue_sync, trackers
from memora.services.srs.queue import MAX_LIMIT, SRSRedisManager
from memora.services.srs.queue_sync import cache_ttl


def rebuild_season_cache(
	season_name: str, batch_size: int = 5000, progress: Callable[[int, int], None] | None = None
) -> dict:
	"""Rebuild the Redis queues of a whole season from MariaDB (plus pending reviews).

	Authoritative: afterwards every queue of the season equals its player's rows overlaid with their
	pending reviews (changed scores corrected, cards without a row removed, missing queues made).
	Each queue is swapped in at once, and an answer accepted meanwhile is neither lost nor reverted, so
	it is safe to re-run and to run while players review. `progress(done, total)` is called after
	every page; Desk also gets a realtime progress bar.
	Returns {total_records, total_users, total_keys, status} with status "completed" or "failed".
	"""
	season = validation.season_name(season_name, "season_name")
	batch_size = validation.integer(batch_size, "batch_size", 1, MAX_LIMIT)
	try:
		return rebuild_season(SRSRedisManager(), season, batch_size, progress)
	except Exception as e:
		runtime.log_error("Memora: season cache rebuild failed", f"Season {season}: {e!r}")
		return {"total_records": 0, "total_users": 0, "total_keys": 0, "status": "failed", "error": str(e)}


def rebuild_season(
	manager: SRSRedisManager, season: str, batch_size: int, progress: Callable[[int, int], None] | None = None
) -> dict:
	"""Stream the season's trackers in keyset pages and swap each player's queue for exactly their
	rows overlaid with their pending states; then do the same for players left with a queue but no
	rows. A player whose rows changed after their page was read is synced again on its own."""
	total = trackers.season_count(season)
	done = players = 0
	reporter = ProgressReporter(season, total, progress)
	ttl = cache_ttl()
	clock = partial(manager._redis, queue_sync.redis_time)
	redo: list[str] = []
	# One page is written to Redis while the next is read from MariaDB: the two servers work at once.
	# The writer runs in the caller's context (its site), one page at a time.
	with ThreadPoolExecutor(max_workers=1, thread_name_prefix="memora-rebuild") as writer:
		writing: Future | None = None
		for since, page in trackers.season_schedules(season, batch_size, clock):
			unwritten = set(in_flight.players_with_batches(season, [player for player, _ in page]))
			redo += unwritten
			schedules = [(p, queue_sync.schedule_args(cards)) for p, cards in page if p not in unwritten]
			write = partial(queue_sync.write_players, season=season, since=since, ttl=ttl, players=schedules)
			if writing is not None:
				redo += writing.result()
			writing = writer.submit(contextvars.copy_context().run, manager._redis, write)
			players += len(page)
			done += sum(len(cards) for _, cards in page)
			reporter.report(done)
		if writing is not None:
			redo += writing.result()
	for orphans in queue_sync.players_without_rows(season, batch_size):
		redo += orphans
	left = manager._redis(partial(queue_sync.sync_players, season, redo, ttl))
	if left:
		raise NotAllowed(f"{len(left)} queues of season {season} kept changing while they were rebuilt")
	result = {"total_records": done, "total_users": players, "total_keys": players, "status": "completed"}
	runtime.log("srs.season_cache_rebuilt", season=season, resynced=len(redo), **result)
	return result


class ProgressReporter:
	"""Progress to a callback on every page, and to Desk's progress bar once per percent."""

	def __init__(self, season: str, total: int, callback: Callable[[int, int], None] | None) -> None:
		self.season, self.total, self.callback = season, total, callback
		self.last_percent = -1

	def report(self, done: int) -> None:
		if self.callback:
			self.callback(done, self.total)
		percent = done * 100 // max(self.total, 1)
		if percent != self.last_percent:
			self.last_percent = percent
			runtime.publish_progress(
				"Rebuilding SRS cache", done, self.total, description=f"Season {self.season}"
			)
