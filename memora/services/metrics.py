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
	# Imported here: the breaker records its own trips through this module.
	from memora.services.circuit_breaker import REDIS_ERRORS, for_client

	client = runtime.redis_client()
	breaker = for_client(client)
	if not breaker.allows():  # Redis is known to be down: keep the figures, don't wait on it
		_put_back(prefix, counts, gauges)
		return
	try:
		pipe = client.pipeline(transaction=True)
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


# --- reading ------------------------------------------------------------------------------------------


def _read() -> tuple[float | None, dict[str, list[tuple[dict, float]]], dict[str, list[tuple[dict, float]]]]:
	"""(since, counters, gauges) from Redis, after sending this process's own figures."""
	flush()
	pipe = runtime.redis_client().pipeline(transaction=False)
	pipe.hgetall(counters_key())
	pipe.hgetall(gauges_key())
	raw_counters, raw_gauges = pipe.execute()
	since = raw_counters.pop(SINCE_FIELD, None)
	return (float(since) if since else None, _parse(raw_counters), _parse(raw_gauges))


def _parse(raw: dict[str, str]) -> dict[str, list[tuple[dict, float]]]:
	series: dict[str, list[tuple[dict, float]]] = {}
	for field, value in raw.items():
		name, labels = json.loads(field)
		series.setdefault(name, []).append((labels, float(value)))
	return series


def _by(series: list[tuple[dict, float]], label: str) -> dict[str, float]:
	totals: dict[str, float] = {}
	for labels, value in series:
		totals[labels.get(label, "")] = totals.get(labels.get(label, ""), 0) + value
	return totals


def _ratio(part: float, whole: float) -> float | None:
	return part / whole if whole else None


def percentile_from_buckets(buckets: dict[str, float], pct: float) -> float | None:
	"""Estimate a percentile (ms) from bucket counts, interpolating inside the bucket as Prometheus'
	histogram_quantile does; past the last bound it answers the last bound."""
	total = sum(buckets.values())
	if not total:
		return None
	rank, seen, lower = pct / 100 * total, 0.0, 0.0
	for bound in BUCKETS_MS:
		count = buckets.get(str(bound), 0)
		if count and seen + count >= rank:
			return lower + (bound - lower) * (rank - seen) / count
		seen += count
		lower = bound
	return float(BUCKETS_MS[-1])


def _operations(counters: dict[str, list[tuple[dict, float]]]) -> dict[str, dict]:
	calls = _by(counters.get(CALLS, []), "operation")
	sums = _by(counters.get(DURATION_SUM, []), "operation")
	buckets: dict[str, dict[str, float]] = {}
	for labels, value in counters.get(DURATION_BUCKET, []):
		buckets.setdefault(labels["operation"], {})[labels["le"]] = value
	errors: dict[str, dict[str, int]] = {}
	for labels, value in counters.get(ERRORS, []):
		errors.setdefault(labels["operation"], {})[labels["type"]] = int(value)
	operations = {}
	for operation, count in sorted(calls.items()):
		failed = sum(errors.get(operation, {}).values())
		operations[operation] = {
			"calls": int(count),
			"errors": failed,
			"error_rate": _ratio(failed, count),
			"errors_by_type": errors.get(operation, {}),
			"avg_ms": _ratio(sums.get(operation, 0), count),
			"p95_ms": percentile_from_buckets(buckets.get(operation, {}), 95),
		}
	return operations


def snapshot() -> dict:
	"""Every figure, with the derived ones ops asked for: hit rate, avg/p95 per operation, error rate
	by type, retries, timeouts, safe-mode activations, reconciliation discrepancy rate, persistence lag."""
	since, counters, gauges = _read()
	operations = _operations(counters)
	hits = _by(counters.get("cache_hits", []), "cache")
	misses = _by(counters.get("cache_misses", []), "cache")
	errors_by_type: dict[str, int] = {}
	for labels, value in counters.get(ERRORS, []):
		errors_by_type[labels["type"]] = errors_by_type.get(labels["type"], 0) + int(value)
	calls = sum(op["calls"] for op in operations.values())
	corrections = {
		kind: int(n) for kind, n in _by(counters.get("reconciliation_corrections", []), "kind").items()
	}
	checked = sum(value for _, value in counters.get("reconciliation_items_checked", []))
	plain = {
		name: {
			"total": sum(value for _, value in series),
			"series": [{"labels": labels, "value": value} for labels, value in series],
		}
		for name, series in sorted(counters.items())
		if not name.startswith("operation_")
	}
	return {
		"since": since,
		"generated_at": runtime.now_ts(),
		"operations": operations,
		"cache": {
			name: {
				"hits": int(hits.get(name, 0)),
				"misses": int(misses.get(name, 0)),
				"hit_rate": _ratio(hits.get(name, 0), hits.get(name, 0) + misses.get(name, 0)),
			}
			for name in sorted(set(hits) | set(misses))
		},
		"cache_hit_rate": _ratio(sum(hits.values()), sum(hits.values()) + sum(misses.values())),
		"error_rate": _ratio(sum(errors_by_type.values()), calls),
		"errors_by_type": errors_by_type,
		"retries": int(plain.get("retries", {}).get("total", 0)),
		"timeouts": int(plain.get("timeouts", {}).get("total", 0)),
		"safe_mode_activations": int(plain.get("safe_mode_activations", {}).get("total", 0)),
		"reconciliation": {
			"items_checked": int(checked),
			"corrections": corrections,
			"discrepancy_rate": _ratio(100 * sum(corrections.values()), checked),
			"last_discrepancy_rate": {
				labels.get("season", ""): value
				for labels, value in gauges.get("reconciliation_discrepancy_rate", [])
			},
		},
		"persistence_lag": operations.get(PERSISTENCE_LAG),
		"counters": plain,
		"gauges": {
			name: [{"labels": labels, "value": value} for labels, value in series]
			for name, series in sorted(gauges.items())
		},
	}


# --- Prometheus ----------------------------------------------------------------------------------------


def _escape(value: str) -> str:
	"""A label value as the exposition format wants it: backslash, quote and newline escaped."""
	return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict) -> str:
	if not labels:
		return ""
	return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _number(value: float) -> str:
	return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _histogram_lines(counters: dict[str, list[tuple[dict, float]]]) -> list[str]:
	name = "memora_operation_duration_seconds"
	lines = [
		f"# HELP {name} Time Memora operations took; operation={PERSISTENCE_LAG} is accepted review to durable row.",
		f"# TYPE {name} histogram",
	]
	buckets: dict[str, dict[str, float]] = {}
	for labels, value in counters.get(DURATION_BUCKET, []):
		buckets.setdefault(labels["operation"], {})[labels["le"]] = value
	sums = _by(counters.get(DURATION_SUM, []), "operation")
	for operation, count in sorted(_by(counters.get(CALLS, []), "operation").items()):
		cumulative = 0.0
		for bound in (*BUCKETS_MS, INF):
			cumulative += buckets.get(operation, {}).get(str(bound), 0)
			le = INF if bound == INF else repr(bound / 1000)
			lines.append(f"{name}_bucket{_labels({'operation': operation, 'le': le})} {_number(cumulative)}")
		lines.append(
			f"{name}_sum{_labels({'operation': operation})} {_number(sums.get(operation, 0) / 1000)}"
		)
		lines.append(f"{name}_count{_labels({'operation': operation})} {_number(count)}")
	errors = "memora_operation_errors_total"
	lines += [f"# HELP {errors} Failed Memora operations, by error type.", f"# TYPE {errors} counter"]
	lines += [f"{errors}{_labels(labels)} {_number(value)}" for labels, value in counters.get(ERRORS, [])]
	return lines


def prometheus_text() -> str:
	"""Every figure in the Prometheus text exposition format (version 0.0.4)."""
	_, counters, gauges = _read()
	lines = _histogram_lines(counters)
	for name, series in sorted(counters.items()):
		if name.startswith("operation_"):
			continue
		metric = f"memora_{name}_total"
		lines += [
			f"# HELP {metric} {HELP.get(name, name.replace('_', ' ') + '.')}",
			f"# TYPE {metric} counter",
		]
		lines += [f"{metric}{_labels(labels)} {_number(value)}" for labels, value in series]
	hits = _by(counters.get("cache_hits", []), "cache")
	misses = _by(counters.get("cache_misses", []), "cache")
	if hits or misses:
		metric = "memora_cache_hit_ratio"
		lines += [
			f"# HELP {metric} Cache hits over lookups since the counters started.",
			f"# TYPE {metric} gauge",
		]
		for cache in sorted(set(hits) | set(misses)):
			ratio = _ratio(hits.get(cache, 0), hits.get(cache, 0) + misses.get(cache, 0))
			lines.append(f"{metric}{_labels({'cache': cache})} {_number(ratio or 0)}")
	for name, series in sorted(gauges.items()):
		metric = f"memora_{name}"
		lines += [f"# HELP {metric} {HELP.get(name, name.replace('_', ' ') + '.')}", f"# TYPE {metric} gauge"]
		lines += [f"{metric}{_labels(labels)} {_number(value)}" for labels, value in series]
	return "\n".join(lines) + "\n"
