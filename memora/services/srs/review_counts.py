"""Reviews per day of a season, for Desk's chart: a Redis hash per season in front of the review log.

The hash is incremented once per newly applied answer (a client retry that changes nothing is not
counted) and kept KEEP_DAYS after its last write, so the chart costs one HMGET. It is not the only copy:
the review log holds every persisted answer, and a season whose hash is gone (a Redis restart without
persistence, a FLUSHDB, a failover) gets it back from the log on the next read, short of the answers in
flight at that moment. Answers accepted while Redis is down (safe mode) are missing from the hash until
it is rebuilt.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from redis.exceptions import RedisError

from memora import runtime
from memora.runtime.breaker import REDIS_ERRORS, for_client
from memora.services.srs import keys, review_log

KEEP_DAYS = 400


def record(season: str, count: int) -> None:
	"""Add `count` reviews to today's figure. Best effort: a Redis failure is logged, never raised, so
	the player's submission stands. Through the circuit breaker: on a cluster the season's hash may sit
	on a node the player's queue does not, and every answer must not wait on it once it failed."""
	if count <= 0:
		return
	client = runtime.redis_client()
	breaker = for_client(client)
	if not breaker.allows():
		runtime.log("reviews_not_counted", logging.WARNING, season=season, count=count, error="safe mode")
		return
	key = keys.reviews_per_day_key(season)
	pipe = client.pipeline(transaction=False)
	pipe.hincrby(key, runtime.now().date().isoformat(), count)
	pipe.expire(key, KEEP_DAYS * 86400)
	try:
		pipe.execute()
	except (RedisError, *REDIS_ERRORS) as e:
		if isinstance(e, REDIS_ERRORS):
			breaker.failed(e)
		runtime.log("reviews_not_counted", logging.WARNING, season=season, count=count, error=str(e))


def per_day(season: str, days: int) -> dict[date, int]:
	"""Reviews accepted on each of the last `days` days, oldest first, today included."""
	since = runtime.now().date() - timedelta(days=days - 1)
	dates = [since + timedelta(days=n) for n in range(days)]
	client = runtime.redis_client()
	if not client.exists(keys.reviews_per_day_key(season)):
		restore(season)
	counts = client.hmget(keys.reviews_per_day_key(season), [day.isoformat() for day in dates])
	return {day: int(count or 0) for day, count in zip(dates, counts, strict=True)}


def restore(season: str) -> None:
	"""Refill a lost hash from the review log, the durable record (nothing to do for a season without
	reviews)."""
	logged = review_log.daily_counts(season, runtime.now().date() - timedelta(days=KEEP_DAYS))
	if logged:
		key = keys.reviews_per_day_key(season)
		pipe = runtime.transaction(runtime.redis_client(), key)
		pipe.hset(key, mapping={day.isoformat(): count for day, count in logged.items()})
		pipe.expire(key, KEEP_DAYS * 86400)
		pipe.execute()
