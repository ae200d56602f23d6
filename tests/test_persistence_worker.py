"""The standalone worker runs jobs in its own process (no work horse per job): connections live from job
to job, a failed or timed-out job leaves none behind, and a cold shutdown in the middle of a batch
ends in a redelivery, as a crash does."""

from __future__ import annotations

import os
import signal
import time

import pytest

from memora import runtime, standalone
from memora.services.srs import persistence
from memora.tests.cards import card
from tests.harness.workers import wait_until
from tests.persistence_data import PLAYER, SEASON, RowLock, forget_jobs, rows, upsert_waiting
from tests.persistence_data import job_status as status

JOBS = "tests.test_persistence_worker"


@pytest.fixture(autouse=True)
def fresh_queues():
	yield
	forget_jobs("short")
	forget_jobs("default")


def whoami() -> dict:
	"""Job target: the process and the database connection the job ran on."""
	return {"pid": os.getpid(), "connection": runtime.db().sql("select connection_id()")[0][0]}


def fail() -> None:
	"""Job target: a job that fails by itself."""
	raise RuntimeError("failing on purpose")


def nap(seconds: float) -> None:
	"""Job target: outlives a short job timeout."""
	time.sleep(seconds)


def run(target: str, job_id: str, timeout: int = 30, **kwargs) -> tuple[str, object]:
	"""Queue a job on `default`, wait until it ends; its status and its return value."""
	runtime.enqueue(f"{JOBS}.{target}", queue="default", job_id=job_id, timeout=timeout, **kwargs)
	assert wait_until(lambda: status(job_id) in ("finished", "failed"), timeout=30)
	return status(job_id), runtime.fetch_job(job_id).result


def test_jobs_run_in_the_worker_process_on_one_connection_until_one_fails(workers):
	worker = workers("default")
	first, second = run("whoami", "who-1")[1], run("whoami", "who-2")[1]
	assert first == second
	assert first["pid"] == worker.process.pid  # no work horse

	assert run("fail", "fail-1")[0] == "failed"
	after = run("whoami", "who-3")[1]
	assert after["pid"] == worker.process.pid
	assert after["connection"] != first["connection"]  # the failed job's connection was dropped


def test_a_timed_out_job_fails_and_the_worker_goes_on(workers):
	worker = workers("default")
	assert run("nap", "nap-1", timeout=1, seconds=10)[0] == "failed"
	assert "JobTimeoutException" in runtime.fetch_job("nap-1").error
	assert run("whoami", "who-after-nap")[1]["pid"] == worker.process.pid


@pytest.mark.filterwarnings("ignore::DeprecationWarning:rq.connections")  # RQ's own calls, run here
def test_a_connection_idle_past_the_limit_is_replaced_before_the_next_job():
	"""In this process (the idle clock is the worker's own): jobs keep the connection until it idled."""
	queue = runtime.rq_queue("default")
	worker = standalone.MemoraWorker([queue], connection=queue.connection)

	def connection_of(job_id: str) -> int:
		runtime.enqueue(f"{JOBS}.whoami", queue="default", job_id=job_id)
		worker.execute_job(runtime.fetch_job(job_id).rq_job, queue)
		return runtime.fetch_job(job_id).result["connection"]

	try:
		first = connection_of("idle-1")
		assert connection_of("idle-2") == first
		worker.last_job_ended -= standalone.DB_IDLE_SECONDS + 1
		assert connection_of("idle-3") != first
	finally:
		worker.register_death()


@pytest.mark.fault
def test_cold_shutdown_mid_batch_is_redelivered_and_every_review_lands_once(db, workers):
	now = time.time()
	persistence.persist_review_batch([card("q0", "before", now - 100)], PLAYER, SEASON)
	states = [card(f"q{i}", f"r{i}", now, stability=float(i + 1)) for i in range(3)]
	lock = RowLock(PLAYER, SEASON, "q0")
	worker = workers("short")
	job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	try:
		assert wait_until(lambda: upsert_waiting(db), timeout=30)
		os.killpg(worker.process.pid, signal.SIGTERM)  # warm: would finish the batch first
		time.sleep(1.1)  # RQ ignores a second signal within a second of the first
		os.killpg(worker.process.pid, signal.SIGTERM)  # cold: the batch is cut off
	finally:
		lock.release()
	worker.process.wait(timeout=30)

	assert status(job_id) == "failed"
	assert runtime.fetch_job(job_id).died_with_worker
	assert {q: r["last_review_id"] for q, r in rows(db).items()} == {"q0": "before"}  # nothing committed

	workers("short")  # recovery when the worker starts puts the batch back
	assert wait_until(lambda: status(job_id) == "finished", timeout=30)
	assert {q: r["last_review_id"] for q, r in rows(db).items()} == {"q0": "r0", "q1": "r1", "q2": "r2"}
	assert runtime.fetch_job(job_id).redeliveries == 1
