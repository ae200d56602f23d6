"""Redis key names for SRS data.

Every key of one (player, season) carries the player in a hash tag (`{...}`), so the sorted set,
its pending-review hash and its rehydration lock live in one Redis Cluster slot and can share a
pipeline or a Lua script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from memora import runtime


def tag(user: str) -> str:
	return "{" + user + "}"


def queue_key(user: str, season: str) -> str:
	"""Sorted set of the player's cards: member = question id, score = next review Unix time."""
	return runtime.key("srs", tag(user), season)


def pending_key(user: str, season: str) -> str:
	"""Hash of card states accepted but not yet persisted: question id -> JSON card state."""
	return runtime.key("srs", tag(user), season, "pending")


def lock_key(user: str, season: str) -> str:
	"""Short-lived lock so one caller rebuilds a missing sorted set while the others wait."""
	return runtime.key("srs", tag(user), season, "lock")


def empty_marker_key(user: str, season: str) -> str:
	"""Set (with a TTL) when the player has no trackers, so the database is not asked every time."""
	return runtime.key("srs", tag(user), season, "empty")


def stamp_key(user: str, season: str) -> str:
	"""Redis time (µs) of the last change of the player's rows that reached the queue: a sync whose rows
	were read before it may hold an older copy and must read them again (see `queue_sync`)."""
	return runtime.key("srs", tag(user), season, "stamp")


# A stamp only has to outlive the time between a sync's row read and its write.
STAMP_TTL = 3600


def stamp_lua(key: str) -> str:
	"""Lua that sets the stamp key `key` (e.g. "KEYS[2]") to the Redis time in µs."""
	return (
		"local now = redis.call('TIME')\n"
		f"redis.call('SET', {key}, now[1] .. string.format('%06d', now[2]), 'EX', {STAMP_TTL})\n"
	)


def player_keys(user: str, season: str) -> tuple[str, ...]:
	"""Every key of one (player, season), for clean-up: queue, pending hash, lock, marker, stamp."""
	return (
		queue_key(user, season),
		pending_key(user, season),
		lock_key(user, season),
		empty_marker_key(user, season),
		stamp_key(user, season),
	)


# The season's player set is split by player into this many sets, each with a hash tag of its own: one
# set would be one cluster slot that every new queue of a big season writes to. '#' is not allowed in
# season names, so a shard's tag can never be another season's.
SEASON_PLAYER_SHARDS = 16


def season_players_key(season: str, shard: int) -> str:
	"""One shard of the set of players with keys in the season: lets archiving, reconciliation and
	erasure find the keys without a SCAN."""
	return runtime.key("srs-season", "{" + f"{season}#{shard}" + "}", "players")


def season_players_keys(season: str) -> list[str]:
	return [season_players_key(season, shard) for shard in range(SEASON_PLAYER_SHARDS)]


def season_player_set(season: str, user: str) -> str:
	"""The shard of the season's player set that lists `user`."""
	digest = hashlib.blake2b(user.encode(), digest_size=4).digest()
	return season_players_key(season, int.from_bytes(digest, "big") % SEASON_PLAYER_SHARDS)


def season_player_sets(season: str, users: Iterable[str]) -> dict[str, list[str]]:
	"""`users` grouped by the shard that lists them."""
	grouped: dict[str, list[str]] = {}
	for user in users:
		grouped.setdefault(season_player_set(season, user), []).append(user)
	return grouped


def reviews_per_day_key(season: str) -> str:
	"""Hash of the season's accepted reviews per day: ISO date (system time zone) -> count."""
	return runtime.key("srs-season", "{" + season + "}", "reviews-per-day")
