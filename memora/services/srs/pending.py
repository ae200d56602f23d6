"""Card states that were accepted but are not yet in MariaDB.

`submit_review_session` records each new card state here (with the sorted-set update, in one
pipeline) before the durable write is queued; the persistence job removes an entry only after the
row is committed, and only if the entry still belongs to the review it wrote. Readers that rebuild
Redis from MariaDB (rehydration, cache rebuild, reconciliation) overlay these states on the rows so
they never replace a newer accepted review with an older database state, and the scheduler reads the
newest state from here so two quick answers to one card both count.

A card state is a dict with at least: question_id, review_id, reviewed_at (Unix time),
next_review_ts (Unix time), stability, difficulty, state, step, reps, lapses, last_rating,
subject, topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import redis

from memora import runtime
from memora.services.srs.keys import pending_key, queue_key, stamp_key, stamp_lua

# Compare-and-delete: drop a field only if it still holds the review that was persisted. The pairs
# come as one JSON argument: redis-py packs each argument in Python, which for a 500-card batch as
# 1,000 arguments cost more than the script. KEYS: pending hash, the player's stamp, which is set
# first (the rows changed, so a queue sync that read them before now must read them again), queue.
# Returns {fields removed, the cards that had no pending state at all while the queue exists}: their
# rows changed without the queue knowing (a lost pending hash, a batch persisted again, or one that
# was never accepted through the queue), so the caller syncs them.
_CLEAR_PERSISTED = (
	stamp_lua("KEYS[2]")
	+ """
local live = redis.call('EXISTS', KEYS[3]) == 1
local removed, unknown = 0, {}
for _, pair in ipairs(cjson.decode(ARGV[1])) do
	local current = redis.call('HGET', KEYS[1], pair[1])
	if current and cjson.decode(current)['review_id'] == pair[2] then
		removed = removed + redis.call('HDEL', KEYS[1], pair[1])
	elseif not current and live then
		unknown[#unknown + 1] = pair[1]
	end
end
return {removed, unknown}
"""
)

# Pending states outlive any sane persistence lag but do not pile up forever if a job is lost
# for good; a lost job stays visible in the failed registry and the audit log for replay.
PENDING_TTL = 7 * 24 * 3600


def record(pipe, user: str, season: str, states: Iterable[dict]) -> None:
	"""Queue the writes for `states` on a caller's pipeline (so they commit with the sorted-set update)."""
	mapping = {s["question_id"]: json.dumps(s, sort_keys=True) for s in states}
	if mapping:
		key = pending_key(user, season)
		pipe.hset(key, mapping=mapping)
		pipe.expire(key, PENDING_TTL)


def get_all(user: str, season: str, client: redis.Redis | None = None) -> dict[str, dict]:
	"""Every pending state of the player in the season, by question id. `client` saves the lookup of
	the runtime's client when the caller already holds it."""
	client = runtime.redis_client() if client is None else client
	raw = client.hgetall(pending_key(user, season))
	return {qid: json.loads(value) for qid, value in raw.items()}


def get_many(
	user: str, season: str, question_ids: list[str], client: redis.Redis | None = None
) -> dict[str, dict]:
	"""Pending states for some questions (missing ones are left out)."""
	if not question_ids:
		return {}
	client = runtime.redis_client() if client is None else client
	return parse(question_ids, client.hmget(pending_key(user, season), question_ids))


def parse(question_ids: Sequence[str], values: list[str | None]) -> dict[str, dict]:
	"""Pending states as HMGET returns them for `question_ids` (None where there is none), by id."""
	return {qid: json.loads(v) for qid, v in zip(question_ids, values, strict=True) if v}


def clear_persisted(user: str, season: str, persisted: Iterable[tuple[str, str]]) -> int:
	"""Forget states now durable in MariaDB: pairs of (question_id, review_id). Returns how many went."""
	pairs = list(persisted)
	if not pairs:
		return 0
	return queue_clear(runtime.redis_client(), user, season, pairs)[0]


def queue_clear(client, user: str, season: str, pairs: list[tuple[str, str]]):
	"""The compare-and-delete of `clear_persisted` on a client or a caller's pipeline; its reply is
	[fields removed, question ids the queue holds without any pending state]."""
	keys = (pending_key(user, season), stamp_key(user, season), queue_key(user, season))
	return runtime.run_script(client, _CLEAR_PERSISTED, keys, json.dumps(pairs, ensure_ascii=False))


def overlay(rows: dict[str, float], pending: dict[str, dict]) -> dict[str, float]:
	"""Question id -> next review time from MariaDB, with newer accepted states taking precedence."""
	merged = dict(rows)
	for qid, state in pending.items():
		merged[qid] = float(state["next_review_ts"])
	return merged
