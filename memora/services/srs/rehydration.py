"""Rehydration: a player's missing queue rebuilt from MariaDB (and their pending states) on first
use. One caller rebuilds under a short lock while the others wait for it; a queue key is therefore
complete or absent, never partial.
"""

from __future__ import annotations

import secrets
import time

import redis

from memora import runtime
from memora.services.srs import in_flight, keys, queue_sync, trackers
from memora.services.srs.queue_sync import cache_ttl

# Long enough for one player's rows to load; a crashed holder frees the waiters when it expires.
LOCK_TTL_MS = 10_000
LOCK_POLL_S = 0.01

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
"""


def rehydrate(client: redis.Redis, user: str, season: str) -> bool:
	"""Rebuild a missing queue from MariaDB; one caller does it while the others wait for it.
	True if this caller rebuilt it."""
	lock = keys.lock_key(user, season)
	token = secrets.token_hex(8)
	if not client.set(lock, token, nx=True, px=LOCK_TTL_MS):
		wait_for_rebuild(client, user, season)
		return False
	try:
		if client.exists(keys.queue_key(user, season), keys.empty_marker_key(user, season)):
			return False  # a rebuild finished between our read and our lock
		load_queue(client, user, season)
		return True
	finally:
		client.eval(_RELEASE_LOCK, 1, lock, token)


def load_queue(client: redis.Redis, user: str, season: str) -> None:
	"""Write a player's queue from MariaDB and pending states (or the no-trackers marker), unless a
	sync that read newer rows got there first. A player with unwritten batches takes the exact sync,
	which puts their answers back into the pending hash first (see `in_flight`)."""
	if in_flight.players_with_batches(season, [user]):
		queue_sync.sync_players(season, [user], client=client)
		return
	for _ in range(queue_sync.ATTEMPTS):
		since = queue_sync.redis_time(client)
		trackers.fresh_snapshot()
		cards = trackers.schedule(user, season)
		ttl = cache_ttl()
		if not queue_sync.write_players(
			client, season, since, ttl, [(user, queue_sync.schedule_args(cards))]
		):
			runtime.log("srs.rehydrated", player=user, season=season, cards=len(cards))
			return


def wait_for_rebuild(client: redis.Redis, user: str, season: str) -> None:
	"""Wait until another caller's rebuild lands, or its lock goes away."""
	built = (keys.queue_key(user, season), keys.empty_marker_key(user, season))
	lock = keys.lock_key(user, season)
	deadline = time.monotonic() + LOCK_TTL_MS / 1000
	while time.monotonic() < deadline:
		if client.exists(*built) or not client.exists(lock):
			return
		time.sleep(LOCK_POLL_S)
