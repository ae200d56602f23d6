"""The fan memory cache, versioned so that a slow read never puts back what a write replaced.

Keys (under the site prefix): memory:fan:{F}:context:{P} holds the MemoryContext as JSON and
memory:fan:{F}:engagement:{P} the engagement score, where F is the pseudonym of the fan and P that of
the pair (`services.pseudonym`: keyed, case-folded the way MariaDB compares ids). No key name holds
an id, so a tombstone left by an erasure names no one, and every key of one fan shares the prefix
memory:fan:{F}: that `erase_fan` finds by SCAN, whichever creators the fan talked to. Before version
1.0 the names held the ids in clear (memory:context:{fan}:{creator}); `forget_clear_text_keys`
deletes those.

Every value is "<version>|<payload>", the version being the pair's Fan Memory `modified` in
microseconds (0 for a pair without a row). All writes go through one script that never replaces a
newer version. A write invalidates by storing an empty payload (a tombstone) with its new version
instead of deleting: a read that loaded the row before the write committed then cannot put its
stale copy back. Tombstones only need to outlive a read in flight, so they expire quickly.
"""

from __future__ import annotations

import contextvars
import logging
import math
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache

import redis
from redis.exceptions import NoScriptError

from memora import runtime
from memora.runtime import Settings
from memora.services import keyspace
from memora.services.pseudonym import pseudonym

FAMILY = "memory"
# The families whose key names held the ids in clear, before version 1.0.
CLEAR_TEXT_FAMILIES = ("context", "engagement")
EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)

# KEYS[1] the entry; ARGV: version, payload ('' = tombstone), ttl seconds. 1 if written.
_SET_IF_NOT_OLDER = """
local current = redis.call('GET', KEYS[1])
if current then
	local held = tonumber(string.match(current, '^(%d+)|'))
	if held and held > tonumber(ARGV[1]) then
		return 0
	end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""

_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None
_executor_lock = threading.Lock()


def context_key(fan_id: str, creator_id: str) -> str:
	return runtime.key(FAMILY, "fan", pseudonym(fan_id), "context", pseudonym(fan_id, creator_id))


def engagement_key(fan_id: str, creator_id: str) -> str:
	return runtime.key(FAMILY, "fan", pseudonym(fan_id), "engagement", pseudonym(fan_id, creator_id))


def recall_key(fan_id: str, creator_id: str) -> str:
	"""Not a copy of data: "<version>|1" says which version of the pair a process's recall index may
	be (`recall_cache`); writes tombstone it like the other entries."""
	return runtime.key(FAMILY, "fan", pseudonym(fan_id), "recall", pseudonym(fan_id, creator_id))


def fan_keys(client: redis.Redis, fan_id: str) -> list[str]:
	"""Every cache key of the fan, with any creator (a SCAN: for erasure, which is rare)."""
	pattern = runtime.key(FAMILY, "fan", pseudonym(fan_id), "*")
	return list(keyspace.matching(client, pattern))


def forget_clear_text_keys() -> int:
	"""Delete the cache keys named in the pre-1.0 way, with the ids in clear; returns how many. A
	SCAN of the site's keys, run once by a patch (the entries are only a cache, and expire anyway)."""
	client = runtime.redis_client()
	return sum(
		keyspace.unlink_matching(client, runtime.key(FAMILY, family, "*")) for family in CLEAR_TEXT_FAMILIES
	)


def pair_keys(fan_id: str, creator_id: str) -> list[str]:
	"""Every cache key that can hold data of the pair."""
	return [
		context_key(fan_id, creator_id),
		engagement_key(fan_id, creator_id),
		recall_key(fan_id, creator_id),
	]


def version(modified: datetime | None) -> int:
	"""A row's `modified` as whole microseconds: the version of every cached copy made from it."""
	return 0 if modified is None else (modified - EPOCH) // MICROSECOND


def tombstone_ttl(settings: Settings) -> int:
	"""Long enough for any read in flight to finish: its bounded steps (a context's two, or recall's
	load), twice over."""
	return (
		math.ceil(2 * (settings.recent_messages_timeout + settings.profile_timeout + settings.recall_timeout))
		+ 1
	)


@cache
def _script_sha(client: redis.Redis) -> str:
	return client.script_load(_SET_IF_NOT_OLDER)


def _payload(raw: str | None) -> str | None:
	"""The cached data, or None for a miss or a tombstone."""
	if raw is None:
		return None
	return raw.partition("|")[2] or None


def get(client: redis.Redis, key: str) -> str | None:
	return _payload(client.get(key))


def get_many(client: redis.Redis, keys: list[str]) -> list[str | None]:
	"""Many entries in one round trip."""
	pipe = client.pipeline(transaction=False)
	for key in keys:
		pipe.get(key)
	return [_payload(raw) for raw in pipe.execute()]


def put_many(client: redis.Redis, entries: Iterable[tuple[str, int, str]], ttl: int) -> None:
	"""Store (key, version, payload) entries in one round trip, each unless a newer one is there.
	An empty payload is a tombstone."""
	entries = list(entries)
	for attempt in range(2):
		pipe = client.pipeline(transaction=False)
		for key, entry_version, payload in entries:
			# EVALSHA as a plain command: the cluster pipeline refuses the `evalsha` method.
			pipe.execute_command("EVALSHA", _script_sha(client), 1, key, entry_version, payload, ttl)
		try:
			pipe.execute()
			return
		except NoScriptError:
			if attempt:
				raise
			_script_sha.cache_clear()  # Redis restarted or was flushed: load the script again


def _background() -> ThreadPoolExecutor:
	"""One worker thread per process (made again after a fork, which leaves no threads behind)."""
	global _executor, _executor_pid
	with _executor_lock:
		if _executor is None or _executor_pid != os.getpid():
			_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memora-cache")
			_executor_pid = os.getpid()
		return _executor


def _invalidate(client: redis.Redis, keys: list[str], entry_version: int, ttl: int) -> None:
	try:
		put_many(client, ((key, entry_version, "") for key in keys), ttl)
	except redis.RedisError as e:
		runtime.log("memory.cache_invalidation_failed", logging.WARNING, keys=keys, error=type(e).__name__)


def invalidate_later(keys: list[str], entry_version: int, ttl: int) -> Future:
	"""Tombstone `keys` in the background, so the caller does not wait on Redis; failures are
	logged. The client is chosen here, in the caller's site, not in the worker thread."""
	client = runtime.redis_client()
	run = contextvars.copy_context().run
	return _background().submit(run, _invalidate, client, keys, entry_version, ttl)


def drain(timeout: float = 10.0) -> None:
	"""Wait until every invalidation queued so far has run (shutdown, tests, benchmarks)."""
	_background().submit(lambda: None).result(timeout)
