"""Review batches handed to persistence and not yet written, recorded beside their jobs.

A player's pending hash lives in Memora's Redis, which a cache clear, a restart without persistence or
an operator's FLUSHDB can empty while the batches' jobs still wait in the queue's Redis. So each
(player, season) also keeps the ids of its unwritten batches in the queue's Redis, and every queue built
from MariaDB (`queue_sync`) first puts their answers back into the pending hash: a second answer is then
never computed from a row that misses the first, and a queue rebuilt meanwhile does not lose it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.exceptions import RedisError

from memora import runtime
from memora.services.srs.pending import PENDING_TTL

# A job in these states may still write its batch (a failed one after an admin's replay).
UNWRITTEN = ("queued", "started", "deferred", "scheduled", "failed")


def key(user: str, season: str) -> str:
	return runtime.queue_side_key("in-flight", "{" + user + "}", season)


def index_key() -> str:
	"""Every unwritten batch of the site, scored by when it was handed over: crash recovery finds the
	jobs a dying worker took off the queue before RQ recorded them started (`runtime.stranded_jobs`)."""
	return runtime.queue_side_key("in-flight")


def add(user: str, season: str, job_id: str) -> None:
	"""Record a batch before its job is queued; best effort (it only matters if a worker or Redis dies)."""
	pipe = runtime.queue_connection().pipeline(transaction=False)
	pipe.sadd(key(user, season), job_id)
	pipe.expire(key(user, season), PENDING_TTL)
	pipe.zadd(index_key(), {job_id: runtime.now_ts()})
	try:
		pipe.execute()
	except RedisError as e:
		runtime.log("in_flight_not_recorded", logging.WARNING, job_id=job_id, error=str(e))


def remove(batches: Iterable[tuple[str, str, str]]) -> None:
	"""Forget (player, season, job id) batches once they are in MariaDB; best effort."""
	pipe = runtime.queue_connection().pipeline(transaction=False)
	for user, season, job_id in batches:
		pipe.srem(key(user, season), job_id)
		pipe.zrem(index_key(), job_id)
	try:
		pipe.execute()
	except RedisError as e:
		runtime.log("in_flight_not_cleared", logging.WARNING, error=str(e))


def handed_over_before(seconds: float, limit: int = 1000) -> list[str]:
	"""Ids of batches handed over more than `seconds` ago and not yet written, oldest first."""
	connection = runtime.queue_connection()
	found = connection.zrangebyscore(index_key(), "-inf", runtime.now_ts() - seconds, start=0, num=limit)
	return [m.decode() if isinstance(m, bytes) else m for m in found]


def forget(job_ids: list[str]) -> None:
	"""Drop ids from the index whose jobs are gone or finished (a settle that could not say so)."""
	if job_ids:
		runtime.queue_connection().zrem(index_key(), *job_ids)


def players_with_batches(season: str, players: list[str]) -> list[str]:
	"""Those of `players` with batches recorded in the season, in one round trip."""
	pipe = runtime.queue_connection().pipeline(transaction=False)
	for user in players:
		pipe.exists(key(user, season))
	return [user for user, found in zip(players, pipe.execute(), strict=True) if found]


def states(season: str, players: list[str]) -> dict[str, list[dict]]:
	"""The card states of each player's batches whose jobs have not written them yet; players with none
	are absent. Finished jobs are forgotten on the way."""
	connection = runtime.queue_connection()
	pipe = connection.pipeline(transaction=False)
	for user in players:
		pipe.smembers(key(user, season))
	found: dict[str, list[str]] = {}
	for user, members in zip(players, pipe.execute(), strict=True):
		for job_id in sorted(m.decode() if isinstance(m, bytes) else m for m in members):
			batch = unwritten_batch(job_id)
			if batch is None:
				connection.srem(key(user, season), job_id)
				continue
			found.setdefault(user, []).extend(batch)
	return found


def newest_states(season: str, user: str) -> dict[str, dict]:
	"""The newest unwritten state of each of the player's cards, by question id: what safe mode lays
	over the tracker rows while Memora's Redis is unreachable (the queue's Redis usually is not).
	Empty, and logged, if the queue's Redis cannot be read either."""
	try:
		unwritten = states(season, [user]).get(user, [])
	except RedisError as e:
		runtime.log("in_flight_unreadable", logging.WARNING, error=str(e))
		return {}
	newest: dict[str, dict] = {}
	for state in unwritten:
		current = newest.get(state["question_id"])
		if current is None or review_order(state) > review_order(current):
			newest[state["question_id"]] = state
	return newest


def review_order(state: dict) -> tuple[float, str]:
	"""How reviews of one card are ordered everywhere: review time, then review id."""
	return (state.get("reviewed_at") or 0.0, state.get("review_id") or "")


def unwritten_batch(job_id: str) -> list[dict] | None:
	"""The card states of a persistence job (only those are recorded) that may still write them, or
	None."""
	job = runtime.fetch_job(job_id)
	if job is None:
		return None
	if job.status not in UNWRITTEN:
		return None
	return job.kwargs["responses"]
