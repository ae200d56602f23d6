"""Seasons, trackers and review queues written straight to MariaDB and Redis, so a test can put the
two stores exactly out of step the way it wants."""

from __future__ import annotations

import json
import secrets

from memora import runtime
from memora.services.srs import keys

DAY = 86400


def add_season(name: str, active: bool = True) -> None:
	runtime.db().sql(
		"insert into `tabMemora Season` (name, season_name, is_active, start_date, end_date) "
		"values (%s, %s, %s, '2026-01-01', '2026-12-31')",
		(name, name, int(active)),
	)
	runtime.db().commit()


def add_trackers(
	player: str, season: str, schedule: dict[str, float], reviewed_at: float | None = None
) -> None:
	"""Tracker rows for `schedule` (question id -> next review time); last reviewed `reviewed_at`
	(default: an hour ago, so the player counts as active)."""
	reviewed = runtime.from_ts(reviewed_at if reviewed_at is not None else runtime.now_ts() - 3600)
	rows = [
		(secrets.token_hex(10), player, season, qid, runtime.from_ts(ts), reviewed, f"r-{qid}")
		for qid, ts in schedule.items()
	]
	runtime.db().sql(
		"insert into `tabPlayer Memory Tracker` (name, player, season, question_id, next_review_date, "
		"last_review_date, last_review_id) values " + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows)),
		[value for row in rows for value in row],
	)
	runtime.db().commit()


def cache(player: str, season: str, schedule: dict[str, float]) -> None:
	"""The player's queue as the SRS engine keeps it: sorted set with TTL, listed in the season set."""
	client = runtime.redis_client()
	client.zadd(keys.queue_key(player, season), schedule)
	client.expire(keys.queue_key(player, season), 30 * DAY)
	client.sadd(keys.season_player_set(season, player), player)


def queue(player: str, season: str) -> dict[str, float]:
	return dict(runtime.redis_client().zrange(keys.queue_key(player, season), 0, -1, withscores=True))


def record_pending(player: str, season: str, qid: str, review_id: str, next_ts: float) -> None:
	"""A review accepted by the SRS engine and not yet persisted: new score and pending state together."""
	state = {
		"question_id": qid,
		"review_id": review_id,
		"reviewed_at": runtime.now_ts(),
		"next_review_ts": next_ts,
	}
	pipe = runtime.redis_client().pipeline()
	pipe.zadd(keys.queue_key(player, season), {qid: next_ts})
	pipe.hset(keys.pending_key(player, season), qid, json.dumps(state))
	pipe.execute()


def audit_rows(operation: str) -> list[dict]:
	runtime.db().rollback()
	return runtime.db().sql(
		"select player, season, status, row_count, correlation_id, details from `tabSRS Audit Log` "
		"where operation = %s order by player",
		(operation,),
		as_dict=True,
	)
