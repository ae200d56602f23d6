"""Reading the operational counters `metrics` records: a JSON snapshot for Desk, the CLI and the
metrics endpoint, and the Prometheus text format. Both also say whether Memora's data Redis can evict
SRS data (`redis_fitness`), read live: it is the server's state, not a figure Memora records."""

from __future__ import annotations

import json

from memora import runtime
from memora.services import redis_fitness
from memora.services.metrics import (
	BUCKETS_MS,
	CALLS,
	DURATION_BUCKET,
	DURATION_SUM,
	ERRORS,
	HELP,
	INF,
	PERSISTENCE_LAG,
	SINCE_FIELD,
	counters_key,
	flush,
	gauges_key,
)


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
	by type, retries, timeouts, safe-mode activations, reconciliation discrepancy rate, persistence lag,
	and `redis`: whether the data Redis can evict SRS data, or has (`redis_fitness.check`)."""
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
		"redis": redis_fitness.check(),
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
	return lines + _family(
		"memora_operation_errors_total",
		"counter",
		"Failed Memora operations, by error type.",
		counters.get(ERRORS, []),
	)


def _family(metric: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> list[str]:
	"""One metric family in the exposition format: its HELP and TYPE lines, then a line per sample."""
	return [
		f"# HELP {metric} {help_text}",
		f"# TYPE {metric} {kind}",
		*(f"{metric}{_labels(labels)} {_number(value)}" for labels, value in samples),
	]


def _gauge(metric: str, help_text: str, samples: list[tuple[dict, float]]) -> list[str]:
	return _family(metric, "gauge", help_text, samples)


def _redis_lines(fitness: dict) -> list[str]:
	"""The data Redis's eviction figures, per primary where they differ by node; nothing for a Redis that
	did not answer (its breaker and `safe_mode_activations` tell that)."""
	nodes = fitness["nodes"]
	if not nodes:
		return []
	lines = []
	if fitness["safe"] is not None:
		lines += _gauge(
			"memora_redis_eviction_safe",
			"1 when no primary of Memora's data Redis can evict keys (noeviction, or no maxmemory), else 0.",
			[({}, int(fitness["safe"]))],
		)
	lines += _gauge(
		"memora_redis_evicted_keys",
		"Keys Memora's data Redis has evicted, summed over its primaries (since each started or RESETSTAT).",
		[({}, fitness["evicted_keys"])],
	)
	lines += _gauge(
		"memora_redis_maxmemory_bytes",
		"maxmemory of each primary of Memora's data Redis; 0 is no limit.",
		[({"node": n["node"]}, n["maxmemory"]) for n in nodes],
	)
	lines += _gauge(
		"memora_redis_used_memory_bytes",
		"Memory used by each primary of Memora's data Redis.",
		[({"node": n["node"]}, n["used_memory"]) for n in nodes],
	)
	lines += _gauge(
		"memora_redis_maxmemory_policy",
		"Each primary's maxmemory-policy, as a label; the value is always 1.",
		[({"node": n["node"], "policy": n["policy"] or "unknown"}, 1) for n in nodes],
	)
	return lines


def _help(name: str) -> str:
	return HELP.get(name, name.replace("_", " ") + ".")


def prometheus_text() -> str:
	"""Every figure in the Prometheus text exposition format (version 0.0.4)."""
	_, counters, gauges = _read()
	lines = _histogram_lines(counters)
	for name, series in sorted(counters.items()):
		if name.startswith("operation_"):
			continue
		lines += _family(f"memora_{name}_total", "counter", _help(name), series)
	hits = _by(counters.get("cache_hits", []), "cache")
	misses = _by(counters.get("cache_misses", []), "cache")
	if hits or misses:
		ratios = [
			({"cache": cache}, _ratio(hits.get(cache, 0), hits.get(cache, 0) + misses.get(cache, 0)) or 0)
			for cache in sorted(set(hits) | set(misses))
		]
		lines += _gauge(
			"memora_cache_hit_ratio", "Cache hits over lookups since the counters started.", ratios
		)
	for name, series in sorted(gauges.items()):
		lines += _gauge(f"memora_{name}", _help(name), series)
	lines += _redis_lines(redis_fitness.check())
	return "\n".join(lines) + "\n"
