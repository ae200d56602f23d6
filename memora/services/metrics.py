"""Operational counters for the whole app, kept cheaply in Redis.

Recording costs a dict update in the calling process: figures build up in a per-process buffer that
goes to Redis in one MULTI/EXEC at most once a second, when a Memora job ends, and before anyone reads
them. Counters are cumulative (what Prometheus expects; rates come from differences), so `snapshot()`
reports totals since `since`, the time of the first figure.

What is kept, per site:
- per operation: calls, errors by type, and a duration histogram (average and p95 come from it);
  `PERSISTENCE_LAG` is kept the same way, as the time from an accepted review to its durable row;
- counters: cache hits/misses per cache, retries, timeouts, safe-mode activations, reconciliation
  corrections by kind and items checked, and any other `incr` a service adds;
- gauges: the last value set, e.g. each season's last reconciliation discrepancy rate.

If Redis is down the buffer keeps adding up (its size is bounded by the number of distinct series, not
by traffic) and is sent once Redis answers again; a process killed outright loses at most its last
second of figures.
"""

from __future__ import annotations

import atexit
import bisect
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import pymysql
import redis

from memora import runtime
from memora.exceptions import MemoraError, NotAllowed, ValidationError
from memora.runtime.breaker import REDIS_ERRORS, for_client, on_trip

# Upper bounds (ms) of the duration histogram: from a Redis read to a nightly job.
BUCKETS_MS = (
	0.1,
	0.25,
	0.5,
	1,
	2.5,
	5,
	10,
	25,
	50,
	100,
	250,
	500,
	1000,
	2500,
	5000,
	10000,
	30000,
	60000,
	300000,
)
INF = "+Inf"
FLUSH_INTERVAL = 1.0
RETRY_AFTER_FAILURE = 5.0
PERSISTENCE_LAG = "persistence.lag"
SINCE_FIELD = "since"  # in the counters hash: when the first figure arrived
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")

# Series kept for operations (recorded by `observe`); every other name is a plain counter.
CALLS = "operation_calls"
DURATION_SUM = "operation_duration_ms_sum"
DURATION_BUCKET = "operation_duration_ms_bucket"
ERRORS = "operation_errors"

HELP = {
	"cache_hits": "Cache lookups answered from Redis.",
	"cache_misses": "Cache lookups that had to go to MariaDB (missing key, rehydration, safe mode).",
	"retries": "Attempts repeated after a transient failure.",
	"timeouts": "Calls that ran out of time.",
	"safe_mode_activations": "Times the SRS engine switched to MariaDB because Redis failed.",
	"reconciliation_corrections": "Redis entries reconciliation corrected, by kind.",
	"reconciliation_items_checked": "Review-queue items reconciliation compared with MariaDB.",
	"reconciliation_discrepancy_rate": "Last full reconciliation: percent of items that were wrong, by season.",
	"reconciliation_last_run": "Unix time the last full reconciliation finished.",
}

# Error types of the fan memory service docs, so error rates read the same across the app.
CACHE_ERROR = "CACHE_ERROR"
DATABASE_ERROR = "DATABASE_ERROR"
VALIDATION_ERROR = "VALIDATION_ERROR"
NOT_ALLOWED = "NOT_ALLOWED"
TIMEOUT = "TIMEOUT"
# MariaDB: lock wait timeout, and a statement cut off by max_statement_time.
DB_TIMEOUTS = frozenset({1205, 1969})

_lock = threading.Lock()
_counts: dict[str, dict[str, float]] = {}  # key prefix (one per site) -> series -> delta
_gauges: dict[str, dict[str, float]] = {}
_next_flush = 0.0


# --- recording -----------------------------------------------------------------------------------


def observe(operation: str, duration_ms: float, error: str | None = None, count: int = 1) -> None:
	"""`count` calls of `operation` that each took `duration_ms` and, if they failed, the error type."""
	deltas = {
		_series(CALLS, (("operation", operation),)): count,
		_series(DURATION_SUM, (("operation", operation),)): duration_ms * count,
		_series(DURATION_BUCKET, (("le", _bucket(duration_ms)), ("operation", operation))): count,
	}
	if error:
		deltas[_series(ERRORS, (("operation", operation), ("type", error)))] = count
	_add(deltas)


def incr(name: str, amount: float = 1, **labels: str) -> None:
	"""Add to a counter, e.g. `incr("retries", operation="persist_review_batch")`."""
	_add({_series(_checked(name), tuple(sorted(labels.items()))): amount})


def set_gauge(name: str, value: float, **labels: str) -> None:
	"""Set a value that is reported as it was last set."""
	field = _series(_checked(name), tuple(sorted(labels.items())))
	with _lock:
		_gauges.setdefault(runtime.key_prefix(), {})[field] = value
	_maybe_flush()


def cache_lookup(cache: str, hit: bool) -> None:
	"""A cache read: hits and misses give the hit rate."""
	incr("cache_hits" if hit else "cache_misses", cache=cache)


def error_type(exc: BaseException) -> str:
	"""Coarse error class for error rates: the fan memory service docs' types, else the class name."""
	if isinstance(exc, ValidationError):
		return VALIDATION_ERROR
	if isinstance(exc, MemoraError) and getattr(exc, "type", None):
		return str(getattr(exc.type, "value", exc.type))  # a MemoryServiceException says its own type
	if isinstance(exc, NotAllowed):
		return NOT_ALLOWED
	if isinstance(exc, TimeoutError | redis.exceptions.TimeoutError) or (
		isinstance(exc, pymysql.err.MySQLError) and exc.args and exc.args[0] in DB_TIMEOUTS
	):
		return TIMEOUT
	if isinstance(exc, redis.exceptions.RedisError):
		return CACHE_ERROR
	if isinstance(exc, pymysql.err.MySQLError):
		return DATABASE_ERROR
	return type(exc).__name__


@contextmanager
def timed(operation: str) -> Iterator[None]:
	"""Observe the block as one call of `operation`; an exception is recorded by type, then re-raised."""
	start = time.perf_counter()
	try:
		yield
	except BaseException as exc:
		kind = error_type(exc)
		observe(operation, (time.perf_counter() - start) * 1000, error=kind)
		if kind == TIMEOUT:
			incr("timeouts", operation=operation)
		raise
	observe(operation, (time.perf_counter() - start) * 1000)


@lru_cache(maxsize=4096)
def _series(name: str, labels: tuple[tuple[str, str], ...]) -> str:
	"""The Redis hash field of one series: its name and sorted labels as JSON."""
	return json.dumps([name, dict(labels)], separators=(",", ":"))


def _checked(name: str) -> str:
	if not NAME_RE.fullmatch(name) or name.startswith("operation_"):
		raise ValueError(f"metric name {name!r} must match {NAME_RE.pattern} and not start with operation_")
	return name


def _bucket(duration_ms: float) -> str:
	index = bisect.bisect_left(BUCKETS_MS, duration_ms)
	return str(BUCKETS_MS[index]) if index < len(BUCKETS_MS) else INF


def _add(deltas: dict[str, float]) -> None:
	with _lock:
		pending = _counts.setdefault(runtime.key_prefix(), {})
		for field, delta in deltas.items():
			pending[field] = pending.get(field, 0) + delta
	_maybe_flush()


def _maybe_flush() -> None:
	if time.monotonic() >= _next_flush:
		flush()


# --- sending ----------------------------------------------------------------------------------------


def counters_key() -> str:
	# One hash tag for both keys, so a flush is one MULTI/EXEC even on Redis Cluster.
	return runtime.key("metrics", "{metrics}", "counters")


def gauges_key() -> str:
	return runtime.key("metrics", "{metrics}", "gauges")


def flush() -> None:
	"""Send this site's buffered figures to Redis now. Never raises: on failure they wait for the next try."""
	global _next_flush
	prefix = runtime.key_prefix()
	with _lock:
		counts, gauges = _counts.pop(prefix, {}), _gauges.pop(prefix, {})
		_next_flush = time.monotonic() + FLUSH_INTERVAL
	if not counts and not gauges:
		return
	client = runtime.redis_client()
	breaker = for_client(client)
	if not breaker.allows():  # Redis is known to be down: keep the figures, don't wait on it
		_put_back(prefix, counts, gauges)
		return
	try:
		pipe = runtime.transaction(client, counters_key())
		pipe.hsetnx(counters_key(), SINCE_FIELD, runtime.now_ts())
		for field, delta in counts.items():
			pipe.hincrbyfloat(counters_key(), field, delta)
		if gauges:
			pipe.hset(gauges_key(), mapping=gauges)
		pipe.execute()
	except Exception as exc:  # a figure must never fail the operation it measures
		_put_back(prefix, counts, gauges)
		if isinstance(exc, REDIS_ERRORS):
			breaker.failed(exc)
		runtime.log("metrics.flush_failed", logging.WARNING, error=repr(exc))


def _put_back(prefix: str, counts: dict[str, float], gauges: dict[str, float]) -> None:
	"""Return unsent figures to the buffer; values recorded meanwhile are newer and win for gauges."""
	global _next_flush
	with _lock:
		pending = _counts.setdefault(prefix, {})
		for field, delta in counts.items():
			pending[field] = pending.get(field, 0) + delta
		newer = _gauges.setdefault(prefix, {})
		_gauges[prefix] = {**gauges, **newer}
		_next_flush = time.monotonic() + RETRY_AFTER_FAILURE


def _forget_inherited() -> None:
	"""A forked child must not send its parent's buffer a second time."""
	global _lock
	_lock = threading.Lock()
	_counts.clear()
	_gauges.clear()


os.register_at_fork(after_in_child=_forget_inherited)
atexit.register(flush)
runtime.on_job_end(flush)
on_trip(lambda server: incr("safe_mode_activations"))
