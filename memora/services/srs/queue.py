"""Review queues in Redis sorted sets, with MariaDB behind them.

One sorted set per (player, season): member = question id, score = next review Unix time, TTL
`srs_cache_ttl_days` refreshed on every write. "Due now" is one ZRANGEBYSCORE.

Invariants:
- A queue key is complete or absent. A write to an absent key first rebuilds it from MariaDB
  (rehydration), so a partial set never hides cards that only MariaDB knows.
- MariaDB plus the pending-review hash is the truth: once writes settle, a queue equals its player's
  tracker rows overlaid with their pending states. Whatever writes a queue from the rows goes through
  `queue_sync`, which swaps it in atomically and never undoes a pending review.
- Every multi-key command or transaction touches keys of one player (one hash tag, one cluster slot).
- When Redis fails or times out the circuit breaker opens and reads come from MariaDB (safe mode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

import redis
from redis.client import Pipeline

from memora import runtime
from memora.exceptions import NotAllowed, ValidationError
from memora.runtime import breaker
from memora.runtime.breaker import REDIS_ERRORS, RedisUnavailable
from memora.services import metrics, validation
from memora.services.srs import in_flight, keys, pending, queue_sync, rehydration, resync_marks, trackers
from memora.services.srs.queue_sync import DEFAULT_TTL, cache_ttl

T = TypeVar("T")
# Optimistic writes retried when another writer touched the same queue in between.
WRITE_ATTEMPTS = 10
MAX_LIMIT = 10_000
# The cache name of the review queues in the metrics: a miss is a rebuild from MariaDB or safe mode.
QUEUE_CACHE = "srs_queue"

# An optimistic write's reads, in one round trip on the WATCHing connection. KEYS: queue, empty
# marker, pending hash; ARGV: question ids. Returns {queue exists, marker exists, the ids' scores,
# the ids' pending states}, missing ones as nil; ZMSCORE and HMGET take 1,000 ids at a time.
_READ_CARDS = """
local function per_id(command, key)
	local replies = {}
	for i = 1, #ARGV, 1000 do
		local part = redis.call(command, key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
		for j = 1, #part do
			replies[#replies + 1] = part[j]
		end
	end
	return replies
end
return {
	redis.call('EXISTS', KEYS[1]),
	redis.call('EXISTS', KEYS[2]),
	per_id('ZMSCORE', KEYS[1]),
	per_id('HMGET', KEYS[3]),
}
"""


class DueItems(NamedTuple):
	question_ids: list[str]
	due_count: int
	was_rehydrated: bool
	safe_mode: bool


class QueueRead(NamedTuple):
	"""What an optimistic write reads of one player's queue: the cards asked about that the queue
	holds (question id -> score, in the order asked) and their pending states."""

	queue_exists: bool
	marker_exists: bool
	scores: dict[str, float]
	pending: dict[str, dict]


Compute = Callable[[dict[str, dict | None]], list[dict]]
Writes = Callable[[Pipeline], Any]
Plan = Callable[[QueueRead], tuple[T, Writes | None]]


class SRSRedisManager:
	"""Manages Redis sorted sets for SRS scheduling (names and return shapes of the service docs)."""

	DEFAULT_TTL = DEFAULT_TTL

	def __init__(self) -> None:
		self.client: redis.Redis = runtime.redis_client()
		self.breaker = breaker.for_client(self.client)

	# --- the service docs' API ---------------------------------------------------------------

	def is_available(self) -> bool:
		"""True if Redis answers; False while it is down (the breaker is not re-probed early)."""
		try:
			return bool(self._redis(lambda client: client.ping()))
		except RedisUnavailable:
			return False

	def add_item(
		self, user: str, season: str, question_id: str, next_review_ts: float, ttl: int | None = None
	) -> bool:
		return self.add_batch(user, season, {question_id: next_review_ts}, ttl)

	def add_batch(self, user: str, season: str, items: dict[str, float], ttl: int | None = None) -> bool:
		"""Schedule cards (question id -> next review Unix time): their trackers are created or moved in
		MariaDB, then the player's queue is synced with them. True once the trackers are written (with
		Redis unavailable the queue is re-synced when it is back); False if MariaDB refused."""
		user, season = player_season(user, season)
		if not isinstance(items, dict):
			raise ValidationError("items", "must map question ids to next review times")
		scores = {
			validation.identifier(qid, "question_id"): validation.number(ts, "next_review_ts")
			for qid, ts in items.items()
		}
		if ttl is not None:
			ttl = validation.integer(ttl, "ttl", minimum=1)
		if not scores:
			return True
		return self._write_then_sync(user, season, "add_batch", ttl, trackers.schedule_cards, scores)

	def remove_item(self, user: str, season: str, question_id: str) -> bool:
		"""Retire a card: its tracker is deleted, then the player's queue is synced. True once the
		tracker is gone (with Redis unavailable the queue is re-synced when it is back)."""
		user, season = player_season(user, season)
		question_id = validation.identifier(question_id, "question_id")
		return self._write_then_sync(user, season, "remove_item", None, trackers.retire_cards, [question_id])

	def sync_queues(self, queues: Iterable[tuple[str, str]], reason: str, ttl: int | None = None) -> bool:
		"""Bring each (player, season) queue to its rows and pending states now; those Redis cannot be
		told of are marked for a re-sync when it is back (see `resync_marks`). True if all were synced.
		Tracker document events (Desk, REST, Data Import) end here."""
		unsynced = []
		for season, group in groupby(sorted({(season, user) for user, season in queues}), key=itemgetter(0)):
			players = [user for _, user in group]
			try:
				left = self._redis(partial(queue_sync.sync_players, season, players, ttl))
			except RedisUnavailable:
				left = players
			unsynced += [(user, season) for user in left]
		if unsynced:
			resync_marks.add(unsynced, reason)
			runtime.db().commit()
		return not unsynced

	def _write_then_sync(
		self, user: str, season: str, reason: str, ttl: int | None, write: Callable[..., None], cards: Any
	) -> bool:
		try:
			write(user, season, cards)
		except Exception as e:
			if not runtime.is_db_error(e):
				raise
			runtime.log(f"srs.{reason}_failed", logging.WARNING, player=user, season=season, error=str(e))
			return False
		self.sync_queues([(user, season)], reason, ttl)
		return True

	def clear_user_cache(self, user: str, season: str) -> bool:
		"""Drop the cached queue (it is rebuilt from MariaDB on next use). Pending reviews are kept:
		they are the only copy of answers not yet in MariaDB."""
		user, season = player_season(user, season)

		def clear(client: redis.Redis) -> None:
			client.delete(
				keys.queue_key(user, season),
				keys.empty_marker_key(user, season),
				keys.lock_key(user, season),
			)
			client.srem(keys.season_player_set(season, user), user)

		try:
			self._redis(clear)
		except RedisUnavailable:
			return False
		return True

	def get_cache_stats(self, user: str, season: str) -> dict:
		"""{total_items, due_items, memory_usage_bytes}; counted in MariaDB while Redis is down."""
		user, season = player_season(user, season)
		now = runtime.now_ts()
		queue = keys.queue_key(user, season)

		def stats(client: redis.Redis) -> dict:
			pipe = client.pipeline(transaction=False)
			pipe.zcard(queue)
			pipe.zcount(queue, "-inf", now)
			pipe.memory_usage(queue)
			total, due, memory = pipe.execute()
			return {"total_items": total, "due_items": due, "memory_usage_bytes": memory or 0}

		try:
			return self._redis(stats)
		except RedisUnavailable:
			return {
				"total_items": trackers.total_count(user, season),
				"due_items": trackers.due_count(user, season, now),
				"memory_usage_bytes": 0,
			}

	def get_due_items(self, user: str, season: str, limit: int = 20) -> list[str]:
		"""Due question ids, earliest first, from the cache as it is (a cold key reads as empty; use
		`get_due_items_with_rehydration` to rebuild it). From MariaDB while Redis is down."""
		user, season = player_season(user, season)
		limit = validation.integer(limit, "limit", 0, MAX_LIMIT)
		now = runtime.now_ts()
		queue = keys.queue_key(user, season)
		try:
			return self._redis(lambda client: client.zrangebyscore(queue, "-inf", now, start=0, num=limit))
		except RedisUnavailable:
			return trackers.due_question_ids(user, season, now, limit)

	def get_due_items_with_rehydration(
		self, user: str, season: str, limit: int = 20
	) -> tuple[list[str], bool]:
		"""(due question ids, whether this call rebuilt the queue from MariaDB)."""
		due = self.due_session(user, season, limit)
		return due.question_ids, due.was_rehydrated

	# --- the review engine's calls -----------------------------------------------------------

	def due_session(self, user: str, season: str, limit: int = 20) -> DueItems:
		"""Due ids (earliest first, ties by question id) and how many are due, rebuilding a missing
		queue once; from MariaDB in safe mode."""
		user, season = player_season(user, season)
		limit = validation.integer(limit, "limit", 0, MAX_LIMIT)
		now = runtime.now_ts()
		try:
			return self._redis(lambda client: self._due_from_redis(client, user, season, limit, now))
		except RedisUnavailable:
			metrics.cache_lookup(QUEUE_CACHE, hit=False)
			return due_from_db(user, season, limit, now, safe_mode=True)

	def pending_states(self, user: str, season: str) -> dict[str, dict] | None:
		"""Accepted reviews not yet in MariaDB, or None while Redis is unavailable."""
		try:
			return self._redis(lambda client: pending.get_all(user, season, client))
		except RedisUnavailable:
			return None

	def apply_reviews(
		self, user: str, season: str, question_ids: list[str], compute: Compute, ttl: int | None = None
	) -> tuple[list[dict], bool]:
		"""Move cards forward atomically; returns (new states, whether in safe mode).

		`compute` gets the newest state of each card in the player's queue (None for a card never
		reviewed; unknown cards are absent) and returns the new states. With Redis up they replace
		the scores and are recorded as pending in one MULTI/EXEC, retried if another writer touched
		the queue or its pending states in between, so two quick answers to one card both count.
		In safe mode the states are computed from MariaDB and only handed to persistence. `ttl`
		defaults to `cache_ttl()`.
		"""
		try:
			return self._redis(
				lambda client: self._transact(
					client, user, season, review_plan(user, season, compute), question_ids, ttl
				)
			), False
		except RedisUnavailable:
			return compute(safe_mode_states(user, season, question_ids)), True

	# --- internals ---------------------------------------------------------------------------

	def _redis(self, operation: Callable[[redis.Redis], T]) -> T:
		"""Run a Redis operation through the circuit breaker. The call that probes Redis after safe mode
		first re-syncs the queues MariaDB changed meanwhile, so none is served stale."""
		if not self.breaker.allows():
			raise RedisUnavailable("Redis is in safe mode")
		try:
			if self.breaker.is_open:
				resync_marks.recover()
			result = operation(self.client)
		except REDIS_ERRORS as e:
			if isinstance(e, redis.exceptions.TimeoutError):
				metrics.incr("timeouts", operation="redis")
			self.breaker.failed(e)
			raise RedisUnavailable(str(e)) from e
		self.breaker.succeeded()
		return result

	def _due_from_redis(
		self, client: redis.Redis, user: str, season: str, limit: int, now: float
	) -> DueItems:
		ids, count, present = read_due(client, user, season, limit, now)
		metrics.cache_lookup(QUEUE_CACHE, hit=present)
		if present:
			return DueItems(ids, count, False, False)
		rebuilt = rehydration.rehydrate(client, user, season)
		ids, count, present = read_due(client, user, season, limit, now)
		if present:
			return DueItems(ids, count, rebuilt, False)
		# Another caller's rebuild did not land before its lock expired: answer from MariaDB.
		return due_from_db(user, season, limit, now, safe_mode=False)

	def _transact(
		self,
		client: redis.Redis,
		user: str,
		season: str,
		plan: Plan,
		question_ids: Sequence[str] = (),
		ttl: int | None = None,
	) -> T:
		"""Optimistic write to one player's queue. The queue and its pending states are WATCHed, then
		read in one round trip (the scores and pending states of `question_ids`); `plan(read)` returns
		(result, writes), and `writes(pipe)` queues the commands that run in MULTI/EXEC with the TTL
		refresh. A missing queue is rebuilt first."""
		queue = keys.queue_key(user, season)
		marker = keys.empty_marker_key(user, season)
		overlay = keys.pending_key(user, season)
		for _ in range(WRITE_ATTEMPTS):
			# WATCH and MULTI/EXEC need the connection of the node owning the player's slot.
			with runtime.node_client(client, queue).pipeline() as pipe:
				try:
					pipe.watch(queue, overlay)
					read = read_cards(pipe, (queue, marker, overlay), question_ids)
					if not read.queue_exists and not read.marker_exists:
						pipe.unwatch()
						rehydration.rehydrate(client, user, season)
						continue
					result, writes = plan(read)
					if writes is None:
						return result
					pipe.multi()
					writes(pipe)
					pipe.expire(queue, ttl or cache_ttl())
					pipe.delete(marker)
					pipe.execute()
				except redis.WatchError:
					continue
				except runtime.CLUSTER_REROUTES:
					runtime.refresh_routing(client)
					continue
			if not read.queue_exists:
				queue_sync.add_season_players(client, season, [user])
			return result
		raise NotAllowed("This review queue is changing too fast to update; try again.")


# --- helpers (Redis client passed in, so they run inside the breaker) -----------------------------


def player_season(user: str, season: str) -> tuple[str, str]:
	return validation.identifier(user, "user"), validation.season_name(season)


def read_due(
	client: redis.Redis, user: str, season: str, limit: int, now: float
) -> tuple[list[str], int, bool]:
	"""(due ids, due count, whether the queue or the no-trackers marker exists) in one round trip."""
	queue = keys.queue_key(user, season)
	pipe = client.pipeline(transaction=False)
	pipe.zrangebyscore(queue, "-inf", now, start=0, num=limit)
	pipe.zcount(queue, "-inf", now)
	pipe.exists(queue, keys.empty_marker_key(user, season))
	ids, count, present = pipe.execute()
	return ids, count, bool(present)


def read_cards(pipe: Pipeline, watched: tuple[str, str, str], question_ids: Sequence[str]) -> QueueRead:
	"""`_READ_CARDS` on a WATCHing pipeline (which runs it at once, on the watched connection)."""
	queue_exists, marker_exists, scores, raw = pipe.eval(_READ_CARDS, len(watched), *watched, *question_ids)
	known = {qid: float(score) for qid, score in zip(question_ids, scores, strict=True) if score is not None}
	pending_states = pending.parse(question_ids, raw)
	return QueueRead(
		bool(queue_exists),
		bool(marker_exists),
		known,
		{qid: state for qid, state in pending_states.items() if qid in known},
	)


def review_plan(user: str, season: str, compute: Compute) -> Plan:
	"""The write of a review session: new scores and their pending states, computed from the newest
	state of each card the queue holds."""
	queue = keys.queue_key(user, season)

	def plan(read: QueueRead) -> tuple[list[dict], Writes | None]:
		states = compute(newest_states(user, season, list(read.scores), read.pending))
		if not states:
			return states, None

		def writes(pipe: Pipeline) -> None:
			pipe.zadd(queue, {s["question_id"]: s["next_review_ts"] for s in states})
			pending.record(pipe, user, season, states)

		return states, writes

	return plan


def safe_mode_states(user: str, season: str, question_ids: list[str]) -> dict[str, dict | None]:
	"""The newest state of each card without Memora's Redis: its tracker row, or an answer still
	waiting in the persistence queue if that is newer (it is not in the row yet). A card is known when
	it has either."""
	trackers.fresh_snapshot()
	states: dict[str, dict | None] = dict(trackers.card_states(user, season, question_ids))
	for question_id, state in in_flight.newest_states(season, user).items():
		current = states.get(question_id)
		if question_id in question_ids and (
			current is None or in_flight.review_order(state) > in_flight.review_order(current)
		):
			states[question_id] = state
	return states


def due_from_db(user: str, season: str, limit: int, now: float, safe_mode: bool) -> DueItems:
	return DueItems(
		trackers.due_question_ids(user, season, now, limit),
		trackers.due_count(user, season, now),
		False,
		safe_mode,
	)


def newest_states(
	user: str, season: str, question_ids: list[str], pending: dict[str, dict]
) -> dict[str, dict | None]:
	"""The newest state of each card: its pending state if any, else its tracker row, else None.
	`pending` must be read before this call (see the module invariants)."""
	trackers.fresh_snapshot()
	stored = trackers.card_states(user, season, [qid for qid in question_ids if qid not in pending])
	return {qid: pending.get(qid) or stored.get(qid) for qid in question_ids}
