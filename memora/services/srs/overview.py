"""Figures for the people who run Memora: Desk's number cards and chart, the SRS Cache Health report,
and whether the Redis holding the queues can evict them.

Everything here is cheap enough to compute on every page load of the workspace: no COUNT(*) over the
tracker table (InnoDB's per-partition estimate stands in for it), Redis read through the season's
player set (no keyspace SCAN), one pipeline per batch of players.
"""

from __future__ import annotations

from datetime import date

from memora import runtime
from memora.schema import table_name
from memora.services import metrics_report, redis_fitness, validation
from memora.services.srs import keys, partitions, reconciliation_runs, review_counts
from memora.services.srs.archiver import SRSArchiver
from memora.services.tables import FAN_MEMORY, SEASONS, TRACKERS

MAX_CREATORS = 1000


def seasons(include_archived: bool = False) -> list[str]:
	"""Season names, oldest first."""
	condition = "" if include_archived else "where coalesce(archive_status, '') <> 'Archived'"
	return [
		row[0]
		for row in runtime.db().sql(f"select name from {SEASONS} {condition} order by start_date, name")
	]


def season_trackers_estimate(season: str) -> int:
	"""InnoDB's row estimate for the season's partition; an exact count only while the season has no
	partition of its own (its rows then sit in DEFAULT, mixed with other seasons')."""
	for partition in partitions.list_partitions():
		if partition["season"] is not None and partition["season"].casefold() == season.casefold():
			return partition["rows"]
	return runtime.db().sql(f"select count(*) from {TRACKERS} where season = %s", (season,))[0][0]


def archived_records_estimate() -> int:
	"""InnoDB's row estimate for Archived Memory Tracker (it grows for years: never counted exactly)."""
	rows = runtime.db().sql(
		"select table_rows from information_schema.tables where table_schema = database() and table_name = %s",
		(table_name("Archived Memory Tracker"),),
	)
	return int(rows[0][0] or 0) if rows else 0


def season_cache_health(season: str) -> dict:
	"""The season's Redis queues: players known to the season, queues present, cards, cards due now,
	memory used, and the last reconciliation that covered the season."""
	client, now = runtime.redis_client(), runtime.now_ts()
	players = queues = cards = due = memory = 0
	for batch in SRSArchiver().season_players(season):
		pipe = client.pipeline(transaction=False)
		for player in batch:
			queue = keys.queue_key(player, season)
			pipe.zcard(queue)
			pipe.zcount(queue, "-inf", now)
			pipe.memory_usage(queue)
		replies = pipe.execute()
		for total, due_now, used in zip(replies[::3], replies[1::3], replies[2::3], strict=True):
			players += 1
			queues += bool(total)
			cards += total
			due += due_now
			memory += used or 0
	last = reconciliation_runs.last_summary(season) or {}
	return {
		"season": season,
		"players": players,
		"queues": queues,
		"cards": cards,
		"due_now": due,
		"memory_bytes": memory,
		"last_reconciliation": last.get("finished_at"),
		"discrepancy_rate": last.get("discrepancy_rate"),
		"corrections": sum((last.get("corrections") or {}).values()),
	}


def last_discrepancy_rate() -> float | None:
	"""Percent of items the last full reconciliation found wrong; None before the first run."""
	last = reconciliation_runs.last_summary()
	return None if last is None else last["discrepancy_rate"]


def persistence_lag_p95_ms() -> float | None:
	"""95th percentile of the time from an accepted review to its durable row, since counters started."""
	lag = metrics_report.snapshot()["persistence_lag"]
	return None if lag is None else lag["p95_ms"]


def redis_eviction() -> dict:
	"""Whether Memora's data Redis can evict the queues and pending reviews, or has (one INFO per
	primary), with `headline`, those words for Desk's card; the sentences are in `problems`."""
	summary = redis_fitness.check()
	return {**summary, "headline": redis_fitness.headline(summary)}


def reviews_per_day(season: str, days: int) -> dict[date, int]:
	"""Reviews accepted in the season on each of the last `days` days (see `review_counts`)."""
	return review_counts.per_day(season, validation.integer(days, "days", 1))


def creators_by_fans(limit: int) -> list[str]:
	"""Creator ids with the most fans first (a scan of the (creator_id, fan_id) index)."""
	limit = validation.integer(limit, "limit", 1, MAX_CREATORS)
	rows = runtime.db().sql(
		f"select creator_id from {FAN_MEMORY} group by creator_id order by count(*) desc, creator_id limit %s",
		(limit,),
	)
	return [row[0] for row in rows]
