"""Making a player's review queue equal what MariaDB holds: the one write that every path ends with.

The rule (docs/srs.md): once a write has committed and the queue has settled, a player's queue equals
their tracker rows (score = next review time, no date = due now) overlaid with their pending reviews.
Rehydration, the season rebuild, tracker edits (Desk, REST, Data Import), the service API's
`add_item` / `add_batch` / `remove_item` and safe-mode recovery all bring a queue back to it here.

A sync reads the rows, then replaces the queue in one script that also reads the pending states, so
the swap is atomic and a pending review is never undone. What the script cannot see is a review that
was persisted and cleared from the pending hash after the rows were read: the rows would be older
than the queue. So every change of a player's rows that reaches Redis (a sync, a persistence
settle) leaves the Redis time in the player's stamp key, a sync notes the Redis time before it reads
the rows, and the script refuses when the stamp is not older; the caller reads the rows again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence

import redis

from memora import runtime
from memora.runtime import Settings
from memora.services.batches import batched
from memora.services.srs import in_flight, keys, trackers
from memora.services.srs.pending import PENDING_TTL
from memora.services.srs.trackers import Row
from memora.services.tables import TRACKERS

DAY = 86400
DEFAULT_TTL = 30 * DAY
# A player without trackers is remembered this long, so each request does not ask MariaDB again.
EMPTY_MARKER_TTL = 600
# Rounds of reading the rows again for the players whose rows changed under a sync.
ATTEMPTS = 10
CONFLICT = -1

# Both sync scripts. KEYS: queue, pending hash, empty marker, stamp. ARGV: the Redis time (µs) taken
# before the rows were read ('' to skip the check), queue TTL, the number n of unwritten states to
# restore, those n states (JSON, see `in_flight`), then (question id, score, last review) per row: the
# score '' for a card without a row (card syncs only), the last review as "µs:review id", or '' where
# the caller did not read it (the pending state wins then).
# A restored state goes into the pending hash unless a state as new is there. A pending state no newer
# than its row is already in MariaDB (or was overtaken there, by a safe-mode answer say) and is
# dropped. Each returns the queue's size, or -1 if the rows changed after they were read.
_PRELUDE = """
if ARGV[1] ~= '' then
	local stamp = redis.call('GET', KEYS[4])
	if stamp and tonumber(stamp) >= tonumber(ARGV[1]) then
		return -1
	end
end
$RESTORE
local restored = tonumber(ARGV[3])
restore(4, 3 + restored)
local order, scores, reviews = {}, {}, {}
for i = 4 + restored, #ARGV, 3 do
	order[#order + 1] = ARGV[i]
	scores[ARGV[i]] = ARGV[i + 1]
	reviews[ARGV[i]] = ARGV[i + 2]
end
local function newer(state, review)
	local separator = string.find(review, ':', 1, true)
	local row_us = tonumber(string.sub(review, 1, separator - 1))
	local us = micros(state)
	return us > row_us or (us == row_us and state['review_id'] > string.sub(review, separator + 1))
end
-- The state that stands for a card: its pending state if newer than its row (else dropped), or nil.
local function pending_state(question_id, raw)
	local state = cjson.decode(raw)
	local review = reviews[question_id]
	if review and review ~= '' and not newer(state, review) then
		redis.call('HDEL', KEYS[2], question_id)
		return nil
	end
	return state
end
"""

# The whole queue: replaced by the rows given (all the player's) with the pending states laid over
# them, in one step. ZADD takes 1,000 pairs at a time (Lua's stack); %.17g keeps every digit.
_SYNC = """
$PRELUDE
local pending = redis.call('HGETALL', KEYS[2])
for i = 1, #pending, 2 do
	local question_id = pending[i]
	local state = pending_state(question_id, pending[i + 1])
	if state then
		if not scores[question_id] then
			order[#order + 1] = question_id
		end
		scores[question_id] = string.format('%.17g', state['next_review_ts'])
	end
end
redis.call('DEL', KEYS[1])
local members = {}
for _, question_id in ipairs(order) do
	members[#members + 1] = scores[question_id]
	members[#members + 1] = question_id
end
for i = 1, #members, 2000 do
	redis.call('ZADD', KEYS[1], unpack(members, i, math.min(i + 1999, #members)))
end
if #members > 0 then
	redis.call('EXPIRE', KEYS[1], ARGV[2])
	redis.call('DEL', KEYS[3])
else
	redis.call('SET', KEYS[3], 1, 'EX', $EMPTY_TTL)
end
$STAMP
return #members / 2
"""

# Only the cards given: each takes its pending state, else its row's score, else leaves the queue. A
# queue that does not exist is left to rehydration (which reads the rows), but its no-trackers marker
# goes: a card may have just been given a row.
_SYNC_CARDS = """
$PRELUDE
if redis.call('EXISTS', KEYS[1]) == 0 then
	redis.call('DEL', KEYS[3])
	$STAMP
	return 0
end
for _, question_id in ipairs(order) do
	local raw = redis.call('HGET', KEYS[2], question_id)
	local state = raw and pending_state(question_id, raw)
	if state then
		redis.call('ZADD', KEYS[1], string.format('%.17g', state['next_review_ts']), question_id)
	elseif scores[question_id] ~= '' then
		redis.call('ZADD', KEYS[1], scores[question_id], question_id)
	else
		redis.call('ZREM', KEYS[1], question_id)
	end
end
$STAMP
return redis.call('ZCARD', KEYS[1])
"""


# Puts unwritten states (JSON, ARGV[first..last]) into the pending hash KEYS[2], each unless a state
# as new is there; review order is review time, then review id, as everywhere.
_RESTORE_FUNCTIONS = """
local function micros(state)
	return math.floor(state['reviewed_at'] * 1000000 + 0.5)
end
local function restore(first, last)
	for i = first, last do
		local state = cjson.decode(ARGV[i])
		local current = redis.call('HGET', KEYS[2], state['question_id'])
		if current then
			current = cjson.decode(current)
		end
		if not current or micros(current) < micros(state)
			or (micros(current) == micros(state) and current['review_id'] < state['review_id']) then
			redis.call('HSET', KEYS[2], state['question_id'], ARGV[i])
		end
	end
	if last >= first then
		redis.call('EXPIRE', KEYS[2], $PENDING_TTL)
	end
end
"""
# KEYS: (unused), pending hash. ARGV: the states.
_RESTORE = (_RESTORE_FUNCTIONS + "restore(1, #ARGV)\n").replace("$PENDING_TTL", str(PENDING_TTL))


def _script(body: str) -> str:
	return (
		body.replace("$PRELUDE", _PRELUDE)
		.replace("$RESTORE", _RESTORE_FUNCTIONS)
		.replace("$EMPTY_TTL", str(EMPTY_MARKER_TTL))
		.replace("$PENDING_TTL", str(PENDING_TTL))
		.replace("$STAMP", keys.stamp_lua("KEYS[4]"))
	)


_SYNC = _script(_SYNC)
_SYNC_CARDS = _script(_SYNC_CARDS)


def cache_ttl(settings: Settings | None = None) -> int:
	"""The queue TTL in seconds; `settings` saves reading them again when the caller holds them."""
	return (settings or runtime.settings()).srs_cache_ttl_days * DAY or DEFAULT_TTL


def redis_time(client: redis.Redis) -> int:
	"""The Redis server's clock in µs: the one the stamps are written with. On a cluster each player's
	stamp takes its own node's clock, so this is the earliest clock of all primaries: a stamp written
	on any node after this read is later than it, whatever the skew between nodes."""
	if not runtime.is_cluster(client):
		seconds, micros = client.time()
		return seconds * 1_000_000 + micros
	clocks = client.time(target_nodes=client.PRIMARIES).values()
	return min(seconds * 1_000_000 + micros for seconds, micros in clocks)


def sync_keys(user: str, season: str) -> list[str]:
	return [
		keys.queue_key(user, season),
		keys.pending_key(user, season),
		keys.empty_marker_key(user, season),
		keys.stamp_key(user, season),
	]


def schedule_args(cards: dict[str, float]) -> list:
	"""Rows known by score alone (the pending state wins), latest first. A small sorted set is a
	listpack, and ZADD finds each member's place by walking it from the lowest score, parsing every
	score on the way: adding the highest score first makes each step one comparison instead of a walk
	over the whole set (2-6x less Redis CPU for 100 cards)."""
	ordered = sorted(cards.items(), key=lambda card: card[1], reverse=True)
	return [value for question_id, score in ordered for value in (question_id, repr(score), "")]


def row_args(rows: dict[str, Row]) -> list:
	"""Rows with the review each last took, latest first."""
	ordered = sorted(rows.items(), key=lambda row: row[1].score, reverse=True)
	return [value for question_id, row in ordered for value in (question_id, *row_values(row))]


def row_values(row: Row | None) -> tuple[str, str]:
	"""A row's score and last review as the sync scripts take them ('' and '' for no row)."""
	if row is None:
		return "", ""
	return repr(row.score), "" if row.reviewed_us is None else f"{row.reviewed_us}:{row.review_id or ''}"


def as_json(states: Sequence[dict]) -> list[str]:
	"""Card states as the pending hash holds them (`pending_reviews.record`)."""
	return [json.dumps(state, sort_keys=True) for state in states]


def write(
	pipe,
	user: str,
	season: str,
	since: int | None,
	ttl: int,
	args: list,
	restored: Sequence[dict] = (),
	script: str = _SYNC,
):
	"""Queue a sync script (the whole queue, or `_SYNC_CARDS`) of one player on a pipeline, or run it on
	a client and return its reply. Restored states travel as the JSON the pending hash holds."""
	since_arg = "" if since is None else since
	states = as_json(restored)
	return runtime.run_script(
		pipe, script, sync_keys(user, season), since_arg, ttl, len(states), *states, *args
	)


def write_players(
	client: redis.Redis,
	season: str,
	since: int | None,
	ttl: int,
	players: list[tuple[str, list]],
	restored: dict[str, list[dict]] | None = None,
) -> list[str]:
	"""Sync each (player, script arguments) in one pipeline, putting back `restored` states (by player)
	first; returns the players whose rows changed after `since` (their queues are left as they were)."""
	pipe = client.pipeline(transaction=False)
	for player, args in players:
		write(pipe, player, season, since, ttl, args, (restored or {}).get(player, ()))
	sizes = pipe.execute()
	add_season_players(
		client, season, [player for (player, _), size in zip(players, sizes, strict=True) if size > 0]
	)
	return [player for (player, _), size in zip(players, sizes, strict=True) if size == CONFLICT]


def sync_players(
	season: str, players: Iterable[str], ttl: int | None = None, client: redis.Redis | None = None
) -> list[str]:
	"""Make each player's queue equal their rows overlaid with their pending states, now. Raises
	Redis's errors; returns the players still unsynced after ATTEMPTS rounds (rows changing faster
	than they can be read)."""
	client = client or runtime.redis_client()
	ttl = ttl or cache_ttl()
	todo = sorted(set(players))
	for _ in range(ATTEMPTS):
		if not todo:
			break
		# Unwritten batches before the rows: one written in between is then in the rows as well.
		restored = in_flight.states(season, todo)
		since = redis_time(client)
		trackers.fresh_snapshot()
		rows = trackers.player_rows(season, todo)
		todo = write_players(
			client, season, since, ttl, [(p, row_args(rows.get(p, {}))) for p in todo], restored
		)
	if todo:
		runtime.log("srs.queue_sync.gave_up", logging.WARNING, season=season, players=len(todo))
	return todo


def sync_cards(client: redis.Redis, season: str, user: str, question_ids: list[str]) -> bool:
	"""Bring these cards of a player's queue to their rows and pending states, now (a queue that does
	not exist is left to rehydration). Raises Redis's errors; False if the rows kept changing."""
	for _ in range(ATTEMPTS):
		restored = in_flight.states(season, [user]).get(user, ())
		since = redis_time(client)
		trackers.fresh_snapshot()
		rows = trackers.card_rows(season, user, question_ids)
		args = [value for qid in question_ids for value in (qid, *row_values(rows.get(qid)))]
		if write(client, user, season, since, cache_ttl(), args, restored, _SYNC_CARDS) != CONFLICT:
			return True
	runtime.log("srs.queue_sync.gave_up", logging.WARNING, season=season, players=1)
	return False


def restore_unwritten(client: redis.Redis, season: str, players: list[str]) -> None:
	"""Put the answers of the players' unwritten batches back into their pending hashes (see `in_flight`),
	for readers that lay pending states over the rows themselves (reconciliation)."""
	restored = in_flight.states(season, players)
	if not restored:
		return
	pipe = client.pipeline(transaction=False)
	for player, states in restored.items():
		slot_keys = (keys.queue_key(player, season), keys.pending_key(player, season))
		runtime.run_script(pipe, _RESTORE, slot_keys, *as_json(states))
	pipe.execute()


def players_without_rows(season: str, batch_size: int) -> Iterator[list[str]]:
	"""Players listed with a queue in the season but without a single tracker (their members can only
	be pending reviews or left-overs), found through the season's player set, without a keyspace SCAN."""
	for page in batched(season_players(season, batch_size), batch_size):
		players = sorted(set(page))
		placeholders = ", ".join(["%s"] * len(players))
		with_rows = {
			row[0]
			for row in runtime.db().sql(
				f"select distinct player from {TRACKERS} where season = %s and player in ({placeholders})",
				(season, *players),
			)
		}
		if without := [player for player in players if player not in with_rows]:
			yield without


def add_season_players(client: redis.Redis, season: str, players: list[str]) -> None:
	"""Players with keys in the season (another slot than their keys, so outside the sync script):
	archiving and reconciliation find the keys through these sets."""
	if not players:
		return
	pipe = client.pipeline(transaction=False)
	for season_set, members in keys.season_player_sets(season, players).items():
		pipe.sadd(season_set, *members)
	pipe.execute()


def season_players(season: str, count: int) -> Iterator[str]:
	"""Every player listed in the season's player sets (a player may come twice while sets change)."""
	client = runtime.redis_client()
	for season_set in keys.season_players_keys(season):
		yield from client.sscan_iter(season_set, count=count)
