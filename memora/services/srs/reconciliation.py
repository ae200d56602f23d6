"""Reconciliation of the Redis review queues with MariaDB, the source of truth.

For one player in one season the expected queue is the player's trackers (question id -> next review
time, as `trackers.score` gives it) with the accepted but not yet persisted reviews laid over them
(`pending.overlay`), so a pending review is never reverted. The sorted set can be wrong in four
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

The full run over every active season is `reconciliation_runs`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from memora import runtime
from memora.services import audit_log, metrics, validation
from memora.services.srs import pending, queue, queue_sync, trackers
from memora.services.srs.keys import empty_marker_key, pending_key, queue_key
from memora.services.srs.seasons import existing_season
from memora.services.tables import TRACKERS

KINDS = ("missing", "ghost", "stale", "key_rebuilt")
# Seconds. Scores and datetime(6) round-trip to the microsecond; a schedule off by less is not drift.
SCORE_TOLERANCE = 1.0
AUDIT_SAMPLE = 50
PLAYER_OPERATION = "reconcile_user_season"

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
	trackers.fresh_snapshot()
	plans = []
	for player, members, raw_pending in zip(players, replies[::2], replies[1::2], strict=True):
		states = {qid: json.loads(state) for qid, state in raw_pending.items()}
		expected = pending.overlay(trackers.schedule(player, season), states)
		actual = dict(members)
		plans.append(Plan(player, compare(expected, actual), not actual and bool(expected), bool(states)))

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
	cutoff = runtime.from_ts(runtime.now_ts() - queue.cache_ttl())
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
	ttl = queue.cache_ttl()
	pipe = client.pipeline(transaction=False)
	for plan in plans:
		keys = [
			queue_key(plan.player, season),
			pending_key(plan.player, season),
			empty_marker_key(plan.player, season),
		]
		runtime.run_script(pipe, _APPLY, keys, ttl, *_changes(plan.drift))
	results = [tuple(reply) for reply in pipe.execute()]
	rebuilt = [plan.player for plan, result in zip(plans, results, strict=True) if result[3]]
	if rebuilt:
		# Other slot than the player's keys, so outside the script; archiving finds the sets through it.
		queue_sync.add_season_players(client, season, rebuilt)
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


def record_metrics(tally: Tally, season: str | None = None) -> None:
	metrics.incr("reconciliation_items_checked", tally.items_checked)
	for kind, count in tally.corrections.items():
		if count:
			metrics.incr("reconciliation_corrections", count, kind=kind)
	if season is not None:
		metrics.set_gauge("reconciliation_discrepancy_rate", tally.discrepancy_rate, season=season)
