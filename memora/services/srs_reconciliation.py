"""Reconciliation of the Redis review queues with MariaDB, the source of truth.

For one player in one season the expected queue is the player's trackers (question id -> next review
time, as `tracker_reads.score` gives it) with the accepted but not yet persisted reviews laid over them
(`pending_reviews.overlay`), so a pending review is never reverted. The sorted set can be wrong in four
ways; each is repaired and counted in items:

- missing: an expected card is not in the set -> added;
- ghost: a member has neither a tracker nor a pending review -> removed;
- stale: its score is more than SCORE_TOLERANCE away from the expected time -> rescored;
- key_rebuilt: the whole set is gone although it should exist -> rebuilt, complete, in one step.

A set should exist when its player reviewed in the season within the cache TTL (srs_cache_ttl_days)
or has pending reviews: every review refreshes that TTL, so such a set can only have been lost
(eviction, restart, flush), and rebuilding it counts as key_rebuilt. The set of an idle player expired
by design; it is made again all the same (so reads that do not rehydrate, like `get_due_items` and
Desk's due counts, see every player of the season) and counted as keys_restored, not as a discrepancy.
An active season's queues therefore stay in Redis while it is active; the TTL clears the rest.

Repairs are compare-and-set, in one Lua script per player (the set, its pending hash and its empty
marker share a hash tag): a member changes only if it still holds what was read, and never when a
pending review the reconciler did not see has appeared. Reads go Redis first, then a fresh MariaDB
snapshot, so a review persisted (and cleared from the pending hash) in between is in the rows rather
than mistaken for drift.

The full run streams each season's trackers in keyset pages, compares every player with its set (one
pipeline per page), and re-checks only the players that differ with the exact procedure above: its
cost grows with rows, its memory stays at one page.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import redis

from memora import runtime
from memora.exceptions import ValidationError
from memora.schema import table_name
from memora.services import (
	audit_log,
	metrics,
	pending_reviews,
	queue_sync,
	srs_redis_manager,
	tracker_reads,
	validation,
)
from memora.services.srs_keys import empty_marker_key, pending_key, queue_key, season_players_key

TRACKERS = f"`{table_name('Player Memory Tracker')}`"
SEASONS = f"`{table_name('Memora Season')}`"
KINDS = ("missing", "ghost", "stale", "key_rebuilt")
# Seconds. Scores and datetime(6) round-trip to the microsecond; a schedule off by less is not drift.
SCORE_TOLERANCE = 1.0
RUN_LOCK_TTL = 600
RUN_TIMEOUT = 4 * 3600
AUDIT_SAMPLE = 50
PLAYER_OPERATION = "reconcile_user_season"
RUN_OPERATION = "reconcile_cache_with_database"
PROGRESS_TITLE = "Reconciling SRS cache"

# KEYS: sorted set, pending hash, empty marker. ARGV[1]: TTL for a set this script creates, then one
# (op, member, score read, new score) per change: a = add if absent, u = rescore, r = remove.
_APPLY = """
local existed = redis.call('EXISTS', KEYS[1]) == 1
local added, updated, removed = {}, {}, {}
for i = 2, #ARGV, 4 do
	local op, member, seen, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
	local pending = redis.call('HGET', KEYS[2], member)
	if not pending or (op ~= 'r' and cjson.decode(pending)['next_review_ts'] == tonumber(score)) then
		local current = redis.call('ZSCORE', KEYS[1], member)
		if op == 'a' then
			if not current then
				redis.call('ZADD', KEYS[1], score, member)
				added[#added + 1] = member
			end
		elseif current and tonumber(current) == tonumber(seen) then
			if op == 'u' then
				redis.call('ZADD', KEYS[1], score, member)
				updated[#updated + 1] = member
			else
				redis.call('ZREM', KEYS[1], member)
				removed[#removed + 1] = member
			end
		end
	end
end
local created = 0
if not existed and #added > 0 then
	created = 1
	redis.call('EXPIRE', KEYS[1], ARGV[1])
	redis.call('DEL', KEYS[3])
end
return {added, updated, removed, created}
"""


@dataclass
class Tally:
	"""What a reconciliation looked at and what it changed (corrections in items, by kind)."""

	players_checked: int = 0
	items_checked: int = 0
	corrections: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
	keys_rebuilt: int = 0
	keys_restored: int = 0

	def add(self, other: Tally, checks: bool = True) -> None:
		if checks:
			self.players_checked += other.players_checked
			self.items_checked += other.items_checked
		for kind, count in other.corrections.items():
			self.corrections[kind] += count
		self.keys_rebuilt += other.keys_rebuilt
		self.keys_restored += other.keys_restored

	@property
	def discrepancies(self) -> int:
		return sum(self.corrections.values())

	@property
	def discrepancy_rate(self) -> float:
		"""Percent of the checked items that were wrong."""
		return 100 * self.discrepancies / self.items_checked if self.items_checked else 0.0

	def as_dict(self) -> dict:
		return {
			"players_checked": self.players_checked,
			"items_checked": self.items_checked,
			"corrections": dict(self.corrections),
			"discrepancies": self.discrepancies,
			"discrepancy_rate": round(self.discrepancy_rate, 6),
			"keys_rebuilt": self.keys_rebuilt,
			"keys_restored": self.keys_restored,
		}


class Drift(NamedTuple):
	missing: dict[str, float]  # question id -> expected score
	ghost: dict[str, float]  # question id -> score in Redis
	stale: dict[str, tuple[float, float]]  # question id -> (score in Redis, expected score)
	checked: int  # items compared: the union of both sides


def compare(expected: dict[str, float], actual: dict[str, float]) -> Drift:
	"""How a sorted set (`actual`) differs from the queue it should hold (`expected`)."""
	missing = {qid: score for qid, score in expected.items() if qid not in actual}
	ghost = {qid: score for qid, score in actual.items() if qid not in expected}
	stale = {
		qid: (actual[qid], score)
		for qid, score in expected.items()
		if qid in actual and abs(actual[qid] - score) > SCORE_TOLERANCE
	}
	return Drift(missing, ghost, stale, len(expected) + len(ghost))


def has_drift(drift: Drift) -> bool:
	return bool(drift.missing or drift.ghost or drift.stale)


# --- seasons ---------------------------------------------------------------------------------------


def existing_season(season: str) -> str:
	"""A valid season name that exists, as MariaDB spells it (keys are case-sensitive, names are not)."""
	season = validation.season_name(season)
	rows = runtime.db().sql(f"select name from {SEASONS} where name = %s", (season,))
	if not rows:
		raise ValidationError("season", f"{season!r} does not exist")
	return rows[0][0]


def active_seasons() -> list[str]:
	return [
		row[0] for row in runtime.db().sql(f"select name from {SEASONS} where is_active = 1 order by name")
	]


# --- one player -------------------------------------------------------------------------------------


def reconcile_user_season(user: str, season: str) -> dict:
	"""Reconcile one player's queue in one season now. Returns what was checked and corrected."""
	user = validation.identifier(user, "user")
	season = existing_season(season)
	with runtime.correlation() as cid, metrics.timed("reconciliation.player"):
		started = time.monotonic()
		tally = repair(season, [user])
		record_metrics(tally)
	return {
		"user": user,
		"season": season,
		**tally.as_dict(),
		"duration_s": round(time.monotonic() - started, 3),
		"correlation_id": cid,
	}


class Plan(NamedTuple):
	"""What the exact re-read found for one player."""

	player: str
	drift: Drift
	key_missing: bool  # no set at all while cards are expected
	has_pending: bool


def repair(season: str, players: list[str]) -> Tally:
	"""Put back the answers of their unwritten batches if the pending hashes lost them (`in_flight`), re-read
	these players' queues (Redis first, then a fresh MariaDB snapshot), repair them by
	compare-and-set and audit every change. The exact procedure; the full run's stream only finds
	which players need it."""
	client = runtime.redis_client()
	queue_sync.restore_unwritten(client, season, players)
	pipe = client.pipeline(transaction=False)
	for player in players:
		pipe.zrange(queue_key(player, season), 0, -1, withscores=True)
		pipe.hgetall(pending_key(player, season))
	replies = pipe.execute()
	tracker_reads.fresh_snapshot()
	plans = []
	for player, members, raw_pending in zip(players, replies[::2], replies[1::2], strict=True):
		pending = {qid: json.loads(state) for qid, state in raw_pending.items()}
		expected = pending_reviews.overlay(tracker_reads.schedule(player, season), pending)
		actual = dict(members)
		plans.append(Plan(player, compare(expected, actual), not actual and bool(expected), bool(pending)))

	tally = Tally(players_checked=len(plans), items_checked=sum(p.drift.checked for p in plans))
	must_exist = recently_active(season, [p.player for p in plans if p.key_missing and not p.has_pending])
	to_apply = [plan for plan in plans if has_drift(plan.drift)]

	entries = []
	for plan, (added, updated, removed, created) in zip(to_apply, apply(season, to_apply), strict=True):
		if created and not plan.has_pending and plan.player not in must_exist:
			tally.keys_restored += 1
			continue
		applied = {
			"key_rebuilt" if created else "missing": added,
			"stale": updated,
			"ghost": removed,
		}
		for kind, ids in applied.items():
			tally.corrections[kind] += len(ids)
		tally.keys_rebuilt += created
		if added or updated or removed:
			entries.append(_audit_entry(plan, season, applied))
	audit_log.add(entries)
	runtime.db().commit()
	return tally


def recently_active(season: str, players: list[str]) -> set[str]:
	"""Those of `players` who reviewed in the season within the cache TTL: their sets must exist."""
	if not players:
		return set()
	cutoff = runtime.from_ts(runtime.now_ts() - srs_redis_manager.cache_ttl())
	placeholders = ", ".join(["%s"] * len(players))
	rows = runtime.db().sql(
		f"select player from {TRACKERS} where season = %s and player in ({placeholders}) "
		"group by player having max(last_review_date) >= %s",
		(season, *players, cutoff),
	)
	return {row[0] for row in rows}


def _changes(drift: Drift) -> list[str]:
	args = []
	for qid, score in drift.missing.items():
		args += ["a", qid, "", repr(score)]
	for qid, (seen, score) in drift.stale.items():
		args += ["u", qid, repr(seen), repr(score)]
	for qid, seen in drift.ghost.items():
		args += ["r", qid, repr(seen), ""]
	return args


def apply(season: str, plans: list[Plan]) -> list[tuple[list[str], list[str], list[str], int]]:
	"""Run the compare-and-set script for each plan in one pipeline; per plan, the ids it actually
	(added, rescored, removed) and whether it created the set."""
	if not plans:
		return []
	client = runtime.redis_client()
	script = client.register_script(_APPLY)
	ttl = srs_redis_manager.cache_ttl()
	pipe = client.pipeline(transaction=False)
	for plan in plans:
		keys = [
			queue_key(plan.player, season),
			pending_key(plan.player, season),
			empty_marker_key(plan.player, season),
		]
		script(keys=keys, args=[ttl, *_changes(plan.drift)], client=pipe)
	results = [tuple(reply) for reply in pipe.execute()]
	rebuilt = [plan.player for plan, result in zip(plans, results, strict=True) if result[3]]
	if rebuilt:
		# Other slot than the player's keys, so outside the script; archiving finds the sets through it.
		client.sadd(season_players_key(season), *rebuilt)
	return results


def _audit_entry(plan: Plan, season: str, applied: dict[str, list[str]]) -> dict:
	counts = {kind: len(ids) for kind, ids in applied.items() if ids}
	planned = len(plan.drift.missing) + len(plan.drift.stale) + len(plan.drift.ghost)
	runtime.log("reconciliation.corrected", player=plan.player, season=season, **counts)
	return audit_log.entry(
		PLAYER_OPERATION,
		"Correction",
		player=plan.player,
		season=season,
		row_count=sum(counts.values()),
		details={
			"counts": counts,
			"question_ids": {kind: ids[:AUDIT_SAMPLE] for kind, ids in applied.items() if ids},
			# Changes given up because the member moved or a newer review arrived after the read.
			"skipped": planned - sum(counts.values()),
		},
	)


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
	total, done = tracker_reads.season_count(season), 0
	batch_size = runtime.settings().reconciliation_batch_size
	for _, players in tracker_reads.season_schedules(season, batch_size):
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


def _alert(summary: dict, by_season: dict[str, Tally], over: list[str]) -> None:
	lines = [
		f"Season {name}: {by_season[name].discrepancy_rate:.3f}% of {by_season[name].items_checked:,} "
		f"items were wrong ({', '.join(f'{k} {v:,}' for k, v in by_season[name].corrections.items())}); "
		"all were corrected."
		for name in over
	]
	runtime.alert(
		f"Memora: Redis and MariaDB disagreed above {summary['alert_threshold']}% in {', '.join(over)}",
		"\n".join([*lines, f"Correlation id: {summary['correlation_id']}"]),
		"SRS Audit Log",
		summary["audit_log"],
	)


def record_metrics(tally: Tally, season: str | None = None) -> None:
	metrics.incr("reconciliation_items_checked", tally.items_checked)
	for kind, count in tally.corrections.items():
		if count:
			metrics.incr("reconciliation_corrections", count, kind=kind)
	if season is not None:
		metrics.set_gauge("reconciliation_discrepancy_rate", tally.discrepancy_rate, season=season)


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
	job = runtime.enqueue(
		"memora.services.srs_reconciliation.reconcile_cache_with_database",
		queue="long",
		timeout=RUN_TIMEOUT,
		season=season,
	)
	return runtime.public_job_id(job)
