"""Metrics kept in Redis: recording, the derived figures, the Prometheus text, and a Redis outage."""

from __future__ import annotations

import os
import re
import signal
import time

import pymysql
import pytest
import redis

from memora import runtime
from memora.exceptions import MemoraError, NotAllowed, ValidationError
from memora.runtime import breaker
from memora.services import metrics, metrics_report
from tests.harness.workers import wait_until


def calls(snapshot: dict, operation: str) -> dict:
	return snapshot["operations"].get(operation, {"calls": 0, "errors": 0, "errors_by_type": {}})


def test_observations_give_average_p95_and_error_rate():
	before = calls(metrics_report.snapshot(), "test.op")["calls"]
	for duration in [1.0] * 18 + [40.0, 400.0]:
		metrics.observe("test.op", duration)
	metrics.observe("test.op", 3.0, error=metrics.CACHE_ERROR)
	op = calls(metrics_report.snapshot(), "test.op")
	assert op["calls"] - before == 21
	assert op["avg_ms"] == pytest.approx((18 + 40 + 400 + 3) / 21)
	# 95% of 21 calls is rank 19.95: inside the (25, 50] bucket, which holds the 40 ms call.
	assert 25 < op["p95_ms"] <= 50
	assert op["errors_by_type"] == {metrics.CACHE_ERROR: 1}
	assert op["error_rate"] == pytest.approx(1 / 21)


def test_timed_records_error_types_and_timeouts():
	before = metrics_report.snapshot()
	with pytest.raises(ValidationError):
		with metrics.timed("test.timed"):
			raise ValidationError("season", "is required")
	with pytest.raises(redis.exceptions.TimeoutError):
		with metrics.timed("test.timed"):
			raise redis.exceptions.TimeoutError("slow")
	with pytest.raises(pymysql.err.OperationalError):
		with metrics.timed("test.timed"):
			raise pymysql.err.OperationalError(2013, "Lost connection")
	with metrics.timed("test.timed"):
		pass
	after = metrics_report.snapshot()
	op = calls(after, "test.timed")
	assert op["calls"] - calls(before, "test.timed")["calls"] == 4
	assert op["errors_by_type"] == {"VALIDATION_ERROR": 1, "TIMEOUT": 1, "DATABASE_ERROR": 1}
	assert after["timeouts"] - before["timeouts"] == 1


class TypedError(MemoraError):
	type = "NOT_FOUND"


def test_error_types_follow_the_service_docs():
	assert metrics.error_type(TypedError()) == "NOT_FOUND"
	assert metrics.error_type(NotAllowed("busy")) == metrics.NOT_ALLOWED
	assert metrics.error_type(pymysql.err.OperationalError(1969, "max_statement_time")) == metrics.TIMEOUT
	assert metrics.error_type(pymysql.err.OperationalError(1205, "Lock wait timeout")) == metrics.TIMEOUT
	assert metrics.error_type(redis.exceptions.ConnectionError("down")) == metrics.CACHE_ERROR
	assert metrics.error_type(KeyError("x")) == "KeyError"


def test_counters_cache_hit_rate_and_the_ops_counters():
	before = metrics_report.snapshot()
	for hit in (True, True, True, False):
		metrics.cache_lookup("test-cache", hit)
	metrics.incr("retries", operation="persist_review_batch")
	metrics.incr("retries", 2, operation="persist_review_batch")
	metrics.incr("safe_mode_activations")
	metrics.observe(metrics.PERSISTENCE_LAG, 120.0)
	after = metrics_report.snapshot()
	assert after["cache"]["test-cache"] == {"hits": 3, "misses": 1, "hit_rate": 0.75}
	assert after["retries"] - before["retries"] == 3
	assert after["safe_mode_activations"] - before["safe_mode_activations"] == 1
	assert after["persistence_lag"]["calls"] >= 1
	assert after["since"] <= runtime.now_ts()


def test_gauges_report_the_last_value():
	metrics.set_gauge("test_gauge", 1.5, season="A")
	metrics.set_gauge("test_gauge", 2.5, season="A")
	assert metrics_report.snapshot()["gauges"]["test_gauge"] == [{"labels": {"season": "A"}, "value": 2.5}]


@pytest.mark.parametrize("name", ["Bad", "with-dash", "operation_calls", ""])
def test_metric_names_are_checked(name):
	with pytest.raises(ValueError):
		metrics.incr(name)


def test_figures_are_buffered_then_sent_together(monkeypatch):
	metrics.flush()
	monkeypatch.setattr(metrics, "FLUSH_INTERVAL", 3600)
	metrics.flush()  # starts an hour-long interval
	metrics.incr("test_buffered", 5)
	assert runtime.redis_client().hget(metrics.counters_key(), metrics._series("test_buffered", ())) is None
	metrics.flush()
	assert (
		float(runtime.redis_client().hget(metrics.counters_key(), metrics._series("test_buffered", ()))) == 5
	)


def test_prometheus_text_format():
	metrics.observe("test.prom", 0.3)
	metrics.observe("test.prom", 7.0, error=metrics.TIMEOUT)
	metrics.cache_lookup("srs", True)
	metrics.set_gauge("reconciliation_discrepancy_rate", 0.25, season='Odd "name"\\x')
	text = metrics_report.prometheus_text()
	lines = text.splitlines()
	assert "# TYPE memora_operation_duration_seconds histogram" in lines
	buckets = [
		line
		for line in lines
		if line.startswith('memora_operation_duration_seconds_bucket{le="')
		and 'operation="test.prom"' in line
	]
	counts = [float(line.rsplit(" ", 1)[1]) for line in buckets]
	assert counts == sorted(counts) and counts[-1] >= 2  # cumulative, ending at +Inf
	assert buckets[-1].startswith('memora_operation_duration_seconds_bucket{le="+Inf"')
	assert 'memora_operation_errors_total{operation="test.prom",type="TIMEOUT"}' in text
	assert "# TYPE memora_cache_hits_total counter" in lines
	assert re.search(r'^memora_cache_hit_ratio\{cache="srs"\} [0-9.]+$', text, re.M)
	assert 'memora_reconciliation_discrepancy_rate{season="Odd \\"name\\"\\\\x"} 0.25' in lines
	assert "# TYPE memora_redis_maxmemory_bytes gauge" in lines  # the data Redis's primaries, read live
	sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$|^# (HELP|TYPE) ')
	assert all(sample.match(line) for line in lines), [line for line in lines if not sample.match(line)]


def test_percentile_interpolates_inside_a_bucket():
	assert metrics_report.percentile_from_buckets({}, 95) is None
	# Ten calls in (0.5, 1] ms: the median is taken halfway through that bucket.
	assert metrics_report.percentile_from_buckets({"1": 10}, 50) == pytest.approx(0.75)
	assert metrics_report.percentile_from_buckets({"+Inf": 3}, 95) == metrics.BUCKETS_MS[-1]


@pytest.mark.fault
def test_figures_survive_a_redis_outage(throwaway_redis, monkeypatch):
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	with runtime.override_settings(safe_mode_probe_interval=0):
		metrics.flush()
		throwaway_redis.stop()
		metrics.incr("test_outage", 2)
		metrics.flush()  # fails quietly, keeps the figures
		metrics.incr("test_outage", 3)
		throwaway_redis.start()
		metrics.flush()
	assert metrics_report.snapshot()["counters"]["test_outage"]["total"] == 5


@pytest.mark.fault
def test_a_hung_redis_costs_one_timeout_then_flushes_skip_it(throwaway_redis, monkeypatch):
	"""A Redis that stops answering (not refusing) trips the breaker once; later flushes don't wait."""
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	with runtime.override_settings(safe_mode_probe_interval=1):
		metrics.flush()
		tripped = breaker.for_client(runtime.redis_client())
		os.kill(throwaway_redis.process.pid, signal.SIGSTOP)
		try:
			metrics.incr("test_hung", 1)
			started = time.monotonic()
			metrics.flush()  # waits out one socket timeout and opens the breaker
			waited = time.monotonic() - started
			assert tripped.is_open
			metrics.incr("test_hung", 1)
			started = time.monotonic()
			metrics.flush()
			# Not a timing claim: the flush must not wait out a socket timeout again (half of the first
			# flush's wait leaves a loaded machine a wide margin).
			assert time.monotonic() - started < waited / 2
		finally:
			os.kill(throwaway_redis.process.pid, signal.SIGCONT)
		assert wait_until(tripped.allows, timeout=5)
		metrics.flush()
	assert metrics_report.snapshot()["counters"]["test_hung"]["total"] == 2
