"""Recall indexes kept in the worker process between searches, and when one may be used.

A process keeps a pair's RecallIndex with the pair version it was loaded at. It may answer from it
only while the pair's recall entry in Redis holds that same version: every write to a pair (a save,
the embedding job, an erasure) tombstones the entry with a newer version, exactly as it does the
cached context, so the next search in any process sees the change. It then loads only the rows
written after its newest one; a pair erased (no Fan Memory row) or erased and begun again (another
row `creation`) is loaded from scratch. Without Redis nothing can be trusted and every search loads.

Entries are dropped least recently searched first beyond `recall_cache_messages` messages per
process, and after `context_cache_ttl` unsearched (checked at most once a second, by any search), so
an erased pair's text does not stay in a busy process for long; a process that no longer searches
keeps what it holds until it searches again or restarts.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import redis

from memora import runtime
from memora.runtime import Settings
from memora.services import metrics
from memora.services.fan_memory import cache, operation, vectors
from memora.services.fan_memory.recall import RecallIndex
from memora.services.pseudonym import pseudonym


@dataclass
class _Held:
	fan: str
	index: RecallIndex
	used: float
	lock: threading.Lock = field(default_factory=threading.Lock)


# The cache's name in the metrics (hits and misses).
CACHE_NAME = "recall_index"
_held: OrderedDict[str, _Held] = OrderedDict()
_lock = threading.Lock()
TRIM_INTERVAL = 1.0
_trimmed_at = 0.0


def _valid_version(client: redis.Redis, key: str, fields: dict) -> int | None:
	"""The version the pair's entry vouches for; None for a tombstone, a miss or Redis failing."""
	try:
		raw = client.get(key)
	except redis.RedisError as e:
		operation.cache_failed("memory.cache_read_failed", e, fields)
		return None
	if raw is None or not raw.partition("|")[2]:
		return None
	return int(raw.partition("|")[0])


def searching(fan_id: str, creator_id: str, settings: Settings, fields: dict) -> _Held:
	"""The pair's index, up to date, locked for the caller's search (release `.lock` after ranking)."""
	client = runtime.redis_client()
	entry_key = cache.recall_key(fan_id, creator_id)
	valid = _valid_version(client, entry_key, fields)
	key = pseudonym(fan_id, creator_id)
	held = _take(key, pseudonym(fan_id))
	held.lock.acquire()
	try:
		hit = valid is not None and valid == held.index.version
		fields["recall_cache"] = "hit" if hit else "miss"
		metrics.cache_lookup(CACHE_NAME, hit=hit)
		if not hit:
			_refresh(held, fan_id, creator_id, settings.recall_timeout)
			_vouch(client, entry_key, held.index, settings, fields)
		if not len(held.index):
			_drop(key, held)  # nothing to keep: an unknown pair, or one without text
		_trim(settings)
	except BaseException:
		held.lock.release()
		raise
	return held


def _vouch(client: redis.Redis, entry_key: str, index: RecallIndex, settings: Settings, fields: dict) -> None:
	"""Say in Redis which version this process loaded (refused there if a write has since gone by)."""
	if "cache_error" in fields or index.incarnation is None:
		return
	try:
		cache.put_many(client, [(entry_key, index.version, "1")], settings.context_cache_ttl)
	except redis.RedisError as e:
		operation.cache_failed("memory.cache_write_failed", e, fields)


def _refresh(held: _Held, fan_id: str, creator_id: str, timeout: float) -> None:
	"""Bring the index to the pair's current version: only the newer rows when it is the same
	incarnation of the pair, else everything."""
	state = vectors.pair_state(fan_id, creator_id, timeout)
	if state is None:
		held.index = RecallIndex(None, 0)
		return
	creation, modified = state
	since = held.index.high_water
	if held.index.incarnation != creation:
		held.index, since = RecallIndex(creation, 0), None
	held.index.merge(vectors.pair_rows(fan_id, creator_id, since, timeout))
	held.index.version = cache.version(modified)


def _take(key: str, fan: str) -> _Held:
	with _lock:
		held = _held.get(key)
		if held is None:
			held = _held[key] = _Held(fan, RecallIndex(None, -1), time.monotonic())
		held.used = time.monotonic()
		_held.move_to_end(key)
		return held


def _drop(key: str, held: _Held) -> None:
	with _lock:
		if _held.get(key) is held:
			del _held[key]


def _trim(settings: Settings) -> None:
	"""Drop the least recently searched indexes beyond the budget, and those unsearched for a TTL; at
	most once a second (any search may run it, so an erased pair's text does not wait for a miss)."""
	global _trimmed_at
	now = time.monotonic()
	with _lock:
		if now - _trimmed_at < TRIM_INTERVAL:
			return
		_trimmed_at = now
		total = sum(len(held.index) for held in _held.values())
		stale_before = now - settings.context_cache_ttl
		for key in list(_held):
			held = _held[key]
			if total <= settings.recall_cache_messages and held.used >= stale_before:
				break
			total -= len(held.index)
			del _held[key]


def forget(fan_id: str, creator_id: str | None = None) -> int:
	"""Drop this process's indexes of the pair (of every pair of the fan without `creator_id`), as an
	erasure does at once; other processes drop theirs when the tombstone turns them away."""
	fan = pseudonym(fan_id)
	with _lock:
		keys = [
			key
			for key, held in _held.items()
			if held.fan == fan and (creator_id is None or key == pseudonym(fan_id, creator_id))
		]
		for key in keys:
			del _held[key]
	return len(keys)


def held_messages() -> int:
	"""Messages indexed in this process (for the metrics and the memory benchmark)."""
	with _lock:
		return sum(len(held.index) for held in _held.values())
