"""Reviews per day of a season, counted when answers are accepted, for Desk's chart.

A tracker keeps only a card's latest review, so counting trackers by their last review date would move
a card reviewed on two days to the later one. The count is kept instead in a Redis hash per season,
incremented once per newly applied answer (a client retry that changes nothing is not counted) and
kept KEEP_DAYS after its last write. It is a chart, not a ledger: answers accepted while Redis is down
(safe mode) are not counted, and a Redis that loses its data loses the history.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from redis.exceptions import RedisError

from memora import runtime
from memora.services.srs import keys

KEEP_DAYS = 400


def record(season: str, count: int) -> None:
	"""Add `count` reviews to today's figure. Best effort: a Redis failure is logged, never raised, so
	the player's submission stands."""
	if count <= 0:
		return
	key = keys.reviews_per_day_key(season)
	pipe = runtime.redis_client().pipeline(transaction=False)
	pipe.hincrby(key, runtime.now().date().isoformat(), count)
	pipe.expire(key, KEEP_DAYS * 86400)
	try:
		pipe.execute()
	except RedisError as e:
		runtime.log("reviews_not_counted", logging.WARNING, season=season, count=count, error=str(e))


def per_day(season: str, days: int) -> dict[date, int]:
	"""Reviews accepted on each of the last `days` days, oldest first, today included."""
	since = runtime.now().date() - timedelta(days=days - 1)
	dates = [since + timedelta(days=n) for n in range(days)]
	counts = runtime.redis_client().hmget(
		keys.reviews_per_day_key(season), [day.isoformat() for day in dates]
	)
	return {day: int(count or 0) for day, count in zip(dates, counts, strict=True)}
