"""Every place a service records an operational figure, proven by running the real operation against
real MariaDB, Redis and RQ workers and reading the counters back from Redis: safe-mode activations,
Redis timeouts, cache hits and misses, retries, persistence lag and operation timings. The endpoints'
tracing needs a site: memora/tests/test_api_tracing.py runs it; here only its wiring is checked."""

from __future__ import annotations

import ast
import signal
import time
from contextlib import contextmanager

import pytest

from memora import api_source, runtime
from memora.exceptions import MemoryServiceException
from memora.services import metrics
from memora.services.fan_memory import cache
from memora.services.srs import persistence
from memora.services.srs.persistence.jobs import BATCH_OPERATION
from memora.services.srs.queue import SRSRedisManager
from memora.services.user_memory_service import get_user_memory_service
from memora.tests.cards import card
from tests.harness.figures import Moved
from tests.harness.workers import wait_until
from tests.persistence_data import PLAYER, SEASON, RowLock, audit_rows, forget_jobs, release_at_first_retry
from tests.srs_data import insert_trackers
from tests.test_fan_memory_service import lock_fan_memory_table

service = get_user_memory_service()


# --- reading the figures ---------------------------------------------------------------------------


@pytest.fixture
def held(monkeypatch):
	"""No automatic flush during the test: figures recorded while the data Redis is a throwaway one
	stay in the buffer and reach the shared Redis with the next snapshot."""
	monkeypatch.setattr(metrics, "FLUSH_INTERVAL", 3600)


@contextmanager
def data_redis(monkeypatch, server):
	"""Memora's data Redis is `server` inside the block; RQ stays on the shared one."""
	with monkeypatch.context() as patch:
		patch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
		patch.setenv("MEMORA_REDIS_URL", server.url)
		yield


# --- SRS engine --------------------------------------------------------------------------------------


@pytest.mark.fault
def test_redis_going_down_is_one_safe_mode_activation_and_every_read_a_miss(
	throwaway_redis, monkeypatch, held
):
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60})
	moved = Moved()
	with data_redis(monkeypatch, throwaway_redis):
		throwaway_redis.stop()
		for _ in range(3):  # the first trips the breaker, the others find it open
			assert SRSRedisManager().due_session(PLAYER, SEASON).safe_mode
	moved.after()
	assert moved.counter("safe_mode_activations") == 1
	assert moved.lookups("srs_queue") == (0, 3)
	assert moved.counter("timeouts", operation="redis") == 0  # refused, not slow


@pytest.mark.fault
def test_redis_that_stops_answering_counts_a_timeout(throwaway_redis, monkeypatch, held):
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60})
	moved = Moved()
	with data_redis(monkeypatch, throwaway_redis), runtime.override_settings(redis_socket_timeout_ms=100):
		manager = SRSRedisManager()
		assert manager.is_available()
		throwaway_redis.process.send_signal(signal.SIGSTOP)
		try:
			assert manager.due_session(PLAYER, SEASON).safe_mode
		finally:
			throwaway_redis.process.send_signal(signal.SIGCONT)
	moved.after()
	assert moved.counter("timeouts", operation="redis") == 1
	assert moved.counter("safe_mode_activations") == 1


def test_review_queue_reads_count_a_miss_for_the_rebuild_then_hits():
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60})
	moved = Moved()
	manager = SRSRedisManager()
	assert manager.due_session(PLAYER, SEASON).was_rehydrated
	assert not manager.due_session(PLAYER, SEASON).was_rehydrated
	assert manager.due_session(PLAYER, SEASON).question_ids == ["q1"]
	assert moved.after().lookups("srs_queue") == (2, 1)


# --- persistence ---------------------------------------------------------------------------------------


def test_persistence_retries_are_counted_once_each_like_their_audit_rows(db, short_lock_waits, monkeypatch):
	now = time.time()
	persistence.persist_review_batch([card("q1", "r0", now - 100)], PLAYER, SEASON)
	moved = Moved()
	lock = RowLock(PLAYER, SEASON, "q1")
	release_at_first_retry(monkeypatch, lock)
	assert persistence.persist_review_batch([card("q1", "r1", now)], PLAYER, SEASON)["success"]
	retried = len(audit_rows(db, "Retry"))
	assert retried == 1
	assert moved.after().counter("retries", operation=persistence.OPERATION) == retried


def test_persistence_lag_is_observed_once_per_review_made_durable(db):
	accepted = time.time() - 2
	states = [card(f"q{i}", f"r{i}", accepted) for i in range(3)]
	moved = Moved()
	persistence.persist_review_batch(states, PLAYER, SEASON)
	persistence.persist_review_batch(states, PLAYER, SEASON)  # within the window: nothing new lands
	moved.after()
	assert moved.lag_calls() == 3
	lag = moved.now["persistence_lag"]
	assert lag["avg_ms"] >= 2000 and lag["p95_ms"] >= 2000


def test_a_persistence_job_is_timed_in_the_worker_that_ran_it(db, workers):
	states = [card(f"q{i}", f"r{i}", time.time()) for i in range(2)]
	moved = Moved()
	workers("short")
	job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	try:
		assert wait_until(lambda: runtime.fetch_job(job_id).status == "finished", timeout=30)
	finally:
		forget_jobs()
	# The worker sends its figures when the job ends, before RQ marks the job finished.
	moved.after()
	assert moved.calls(BATCH_OPERATION) == 1
	assert moved.lag_calls() == 2


@pytest.mark.fault
def test_a_batch_that_finally_fails_is_a_persistence_error(db, mariadb_proxy, monkeypatch):
	moved = Moved()
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	mariadb_proxy.cut()
	try:
		with runtime.override_settings(max_retries=0), pytest.raises(persistence.PersistenceFailed):
			persistence.run_batch_job([card("q1", "r1", time.time())], PLAYER, SEASON)
	finally:
		runtime.db().close()
		monkeypatch.undo()
	moved.after()
	assert moved.calls(BATCH_OPERATION) == 1
	assert moved.errors(BATCH_OPERATION, "PersistenceFailed") == 1
	assert moved.lag_calls() == 0


# --- fan memory ---------------------------------------------------------------------------------------


def save(fan: str, **fields) -> dict:
	event = {"fan_id": fan, "creator_id": "creator-1", "type": "message", "content": "Hi there!", **fields}
	return service.save_interaction(event)


def test_memory_context_reads_count_hits_and_misses_and_are_timed():
	save("fan-1")
	cache.drain()
	moved = Moved()
	service.get_memory_context("fan-1", "creator-1")  # miss, then cached
	service.get_memory_context("fan-1", "creator-1")
	service.get_memories_for_fans(["fan-1", "fan-2", "fan-3"], "creator-1")
	moved.after()
	assert moved.lookups("memory_context") == (2, 3)
	assert moved.calls("memory.get_memory_context") == 2
	assert moved.calls("memory.get_memories_for_fans") == 1


def test_engagement_reads_count_hits_and_misses():
	save("fan-e")
	cache.drain()
	moved = Moved()
	first = service.get_engagement_score("fan-e", "creator-1")
	assert service.get_engagement_score("fan-e", "creator-1") == first
	moved.after()
	assert moved.lookups("engagement") == (1, 1)
	assert moved.calls("memory.get_engagement_score") == 2


@pytest.mark.fault
def test_save_retries_are_counted_and_the_failure_typed(db, mariadb_proxy, monkeypatch):
	moved = Moved()
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	mariadb_proxy.cut()
	try:
		with pytest.raises(MemoryServiceException):
			save("fan-d", event_id="evt-down")
	finally:
		runtime.db().close()
		monkeypatch.undo()
	moved.after()
	assert moved.counter("retries", operation="memory.save_interaction") == 2  # 3 attempts
	assert moved.errors("memory.save_interaction", "DATABASE_ERROR") == 1


def test_a_read_step_that_times_out_counts_a_timeout(db):
	save("fan-t")
	cache.drain()
	moved = Moved()
	locker = lock_fan_memory_table()
	try:
		with runtime.override_settings(profile_timeout=0.2):
			assert service.get_memory_context("fan-t", "creator-1")["degraded"]
	finally:
		with locker.cursor() as cursor:
			cursor.execute("unlock tables")
		locker.close()
	moved.after()
	assert moved.counter("timeouts", operation="memory.read.profile") == 1
	assert moved.lookups("memory_context") == (0, 1)


# --- endpoints -------------------------------------------------------------------------------------------

# The metrics scrape is not wrapped: a guest with a token, and it must not count itself.
OWN_WRAPPING = {"memora.api.ops.prometheus"}


@pytest.mark.unit
def test_every_endpoint_runs_inside_endpoint_directly_under_whitelist():
	"""`@endpoint` (correlation id, timing as api.<module>.<function>, permission first, typed errors)
	wraps every whitelisted function, right under `@frappe.whitelist`, so nothing runs before it."""
	endpoints = api_source.collect()
	assert len(endpoints) > 20
	for path in api_source.source_files():
		for func in ast.parse(path.read_text()).body:
			if not isinstance(func, ast.FunctionDef) or not func.decorator_list:
				continue
			names = [ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in func.decorator_list]
			if names[0] != "frappe.whitelist":
				continue
			dotted = f"{api_source.module_path(path)}.{func.name}"
			if dotted in OWN_WRAPPING:
				assert "endpoint" not in names, dotted
				continue
			assert names[1:2] == ["endpoint"], f"{dotted}: {names}"
