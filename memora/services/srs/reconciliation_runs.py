"""Full reconciliation runs: every player of every active season (or of one season), in the daily job,
from Desk and the CLI.

A run streams each season's trackers in keyset pages, compares every player with its set (one
pipeline per page), and re-checks only the players that differ with the exact per-player procedure
of `reconciliation`: its cost grows with rows, its memory stays at one page. One run at a time per
site (a Redis lock with a heartbeat); its summary is kept for Desk and alerts go out above the
configured discrepancy threshold.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from memora import runtime
from memora.services import audit_log, metrics
from memora.services.srs import queue_sync, trackers
from memora.services.srs.keys import queue_key
from memora.services.srs.reconciliation import Tally, compare, has_drift, record_metrics, repair
from memora.services.srs.seasons import active_seasons, existing_season

RUN_LOCK_TTL = 600
RUN_TIMEOUT = 4 * 3600
RUN_OPERATION = "reconcile_cache_with_database"
PROGRESS_TITLE = "Reconciling SRS cache"


# --- the full run -------------------------------------------------------------------------------------


def reconcile_cache_with_database(
	season: str | None = None, progress: Callable[[int, int], None] | None = None
) -> dict:
	"""The daily job: reconcile every player of the active seasons (or of `season`), then store and
	return the summary, and alert admins about any season whose discrepancy rate is above
	reconciliation_alert_threshold. `progress(done, total)` is called after every page of a season."""
	seasons = [existing_season(season)] if season else active_seasons()
	with runtime.correlation() as cid, run_lock(cid) as lock:
		if lock is None:
			runtime.log("reconciliation.skipped", logging.WARNING, reason="another run holds the lock")
			return {"status": "skipped", "reason": "another reconciliation is running", "correlation_id": cid}
		with metrics.timed("reconciliation.run"):
			started, clock = runtime.now_ts(), time.monotonic()
			by_season = {}
			for name in seasons:
				by_season[name] = reconcile_season(
					name, lambda done, total: _heartbeat(lock, done, total, progress)
				)
			return finish(by_season, started, time.monotonic() - clock, cid)


@contextmanager
def run_lock(cid: str) -> Iterator[redis.lock.Lock | None]:
	"""One full run at a time (the scheduler and an admin may start one together); the lock is
	extended on every page and expires if its holder dies."""
	lock = runtime.redis_client().lock(
		runtime.key("reconciliation", "lock"), timeout=RUN_LOCK_TTL, blocking=False
	)
	if not lock.acquire(token=cid):
		yield None
		return
	try:
		yield lock
	finally:
		try:
			lock.release()
		except redis.exceptions.LockError:
			runtime.log("reconciliation.lock_lost", logging.WARNING)


def _heartbeat(
	lock: redis.lock.Lock, done: int, total: int, progress: Callable[[int, int], None] | None
) -> None:
	lock.reacquire()
	runtime.publish_progress(PROGRESS_TITLE, done, total)
	if progress:
		progress(done, total)


def reconcile_season(season: str, on_page: Callable[[int, int], None]) -> Tally:
	"""Every player of one season: those with trackers (streamed), then those with only a set."""
	tally = Tally()
	total, done = trackers.season_count(season), 0
	batch_size = runtime.settings().reconciliation_batch_size
	for _, players in trackers.season_schedules(season, batch_size):
		tally.add(_check(season, players))
		done += sum(len(schedule) for _, schedule in players)
		on_page(done, total)
	for players in queue_sync.players_without_rows(season, batch_size):
		tally.add(_check(season, [(player, {}) for player in players]))
	return tally


def _check(season: str, players: list[tuple[str, dict[str, float]]]) -> Tally:
	"""Compare a page of players with their sets; repair the ones that differ."""
	tally, differing = detect(season, players)
	if differing:
		tally.add(repair(season, differing), checks=False)
	return tally


def detect(season: str, players: list[tuple[str, dict[str, float]]]) -> tuple[Tally, list[str]]:
	"""Compare each player's schedule with its set, all sets read in one pipeline. Returns what was
	checked and the players that differ (a pending review or a race also shows here; `repair` sorts
	those out)."""
	pipe = runtime.redis_client().pipeline(transaction=False)
	for player, _ in players:
		pipe.zrange(queue_key(player, season), 0, -1, withscores=True)
	tally, differing = Tally(), []
	for (player, schedule), members in zip(players, pipe.execute(), strict=True):
		drift = compare(schedule, dict(members))
		if schedule or members:
			tally.players_checked += 1
			tally.items_checked += drift.checked
		if has_drift(drift):
			differing.append(player)
	return tally, differing


def finish(by_season: dict[str, Tally], started: float, duration: float, cid: str) -> dict:
	"""Summarise, audit, store, count and alert."""
	total = Tally()
	for tally in by_season.values():
		total.add(tally)
	threshold = runtime.settings().reconciliation_alert_threshold
	over = sorted(name for name, tally in by_season.items() if tally.discrepancy_rate > threshold)
	summary = {
		"status": "completed",
		**total.as_dict(),
		"duration_s": round(duration, 3),
		"started_at": str(runtime.from_ts(started)),
		"finished_at": str(runtime.now()),
		"correlation_id": cid,
		"alert_threshold": threshold,
		"alerted_seasons": over,
		"seasons": {name: tally.as_dict() for name, tally in by_season.items()},
	}
	entry = audit_log.entry(
		RUN_OPERATION,
		"Correction" if total.discrepancies else "Success",
		row_count=total.discrepancies,
		details=summary,
	)
	audit_log.add([entry])
	runtime.db().commit()
	summary["audit_log"] = entry["name"]
	store_summary(summary)
	for name, tally in by_season.items():
		record_metrics(tally, season=name)
	metrics.set_gauge("reconciliation_last_run", runtime.now_ts())
	if over:
		_alert(summary, by_season, over)
	runtime.log("reconciliation.finished", **{k: v for k, v in summary.items() if k != "seasons"})
	return summary


def _alert_line(name: str, tally: Tally) -> str:
	corrections = ", ".join(f"{k} {v:,}" for k, v in tally.corrections.items())
	return (
		f"Season {name}: {tally.discrepancy_rate:.3f}% of {tally.items_checked:,} "
		f"items were wrong ({corrections}); all were corrected."
	)


def _alert(summary: dict, by_season: dict[str, Tally], over: list[str]) -> None:
	lines = [_alert_line(name, by_season[name]) for name in over]
	runtime.alert(
		f"Memora: Redis and MariaDB disagreed above {summary['alert_threshold']}% in {', '.join(over)}",
		"\n".join([*lines, f"Correlation id: {summary['correlation_id']}"]),
		"SRS Audit Log",
		summary["audit_log"],
	)


# --- stored summaries and on-demand runs ----------------------------------------------------------------


def summary_key() -> str:
	return runtime.key("reconciliation", "summary")


def store_summary(summary: dict) -> None:
	"""Keep the last run's summary, and each season's part of it, for Desk and the admin endpoint."""
	fields = {"last": json.dumps(summary, default=str)}
	for name, part in summary["seasons"].items():
		fields[f"season:{name}"] = json.dumps(
			{**part, "finished_at": summary["finished_at"], "correlation_id": summary["correlation_id"]}
		)
	runtime.redis_client().hset(summary_key(), mapping=fields)


def last_summary(season: str | None = None) -> dict | None:
	"""The last full run's summary, or one season's part of the last run that covered it."""
	field_name = f"season:{existing_season(season)}" if season else "last"
	raw = runtime.redis_client().hget(summary_key(), field_name)
	return json.loads(raw) if raw else None


def queue_reconciliation(season: str | None = None) -> str:
	"""Run the full reconciliation (of one season, or of every active one) in a background job."""
	if season:
		season = existing_season(season)
	return runtime.enqueue(
		"memora.services.srs.reconciliation_runs.reconcile_cache_with_database",
		queue="long",
		timeout=RUN_TIMEOUT,
		season=season,
	)
