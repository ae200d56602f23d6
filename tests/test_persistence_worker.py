"""The standalone worker runs jobs in its own process (no work horse per job): connections live from job
to job, a failed or timed-out job leaves none behind, and a cold shutdown in the middle of a batch
ends in a redelivery, as a crash does."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from memora import runtime, standalone
from memora.services.pseudonym import pseudonym
from memora.services.srs import pending, persistence
from memora.services.srs.persistence import jobs as persistence_jobs
from memora.services.srs.persistence.batch import JOB_ID_START
from memora.services.srs.persistence.write import OPERATION
from memora.tests.cards import card
from tests.harness.figures import Moved
from tests.harness.logs import logged
from tests.harness.workers import wait_until
from tests.persistence_data import (
	EVERY_SESSION_WRITTEN,
	PLAYER,
	PLAYERS,
	SEASON,
	SESSION_WRITTEN,
	RowLock,
	audit_rows,
	erased_now,
	forget_jobs,
	queue_sessions,
	registration_expired,
	rows,
	run_queued_jobs,
	upsert_waiting,
	written,
)
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


# --- taking over the batches queued behind (a worker in this process, so each step is its own) ----


def test_a_job_writes_the_batches_queued_behind_it_in_one_transaction(db):
	job_ids = queue_sessions(time.time())
	moved = Moved()
	run_queued_jobs()
	assert moved.after().counter("batches_taken_over", operation=OPERATION) == 3
	assert written(db) == EVERY_SESSION_WRITTEN
	assert len({r["modified"] for player in PLAYERS for r in rows(db, player).values()}) == 1
	for job_id in job_ids.values():
		job = runtime.fetch_job(job_id)
		assert (job.status, job.result) == (
			"finished",
			{"success": True, "processed_count": 3, "failed_count": 0, "errors": []},
		)
	assert all(pending.get_all(player, SEASON) == {} for player in PLAYERS)


@pytest.mark.parametrize(
	("statement_rows", "take_jobs", "taken"), [(10, 49, 2), (12, 49, 3), (12, 1, 2), (3, 49, 0)]
)
def test_a_job_takes_no_more_than_one_statement_and_take_jobs_allow(
	db, monkeypatch, statement_rows, take_jobs, taken
):
	"""Four sessions of three cards: a job takes as many as fit in one statement beside its own,
	at most TAKE_JOBS."""
	monkeypatch.setattr(persistence_jobs, "STATEMENT_ROWS", statement_rows)
	monkeypatch.setattr(persistence_jobs, "TAKE_JOBS", take_jobs)
	queue_sessions(time.time())
	moved = Moved()
	run_queued_jobs()
	assert moved.after().counter("batches_taken_over", operation=OPERATION) == taken
	assert written(db) == EVERY_SESSION_WRITTEN


def test_a_job_looks_no_further_than_take_scan(db, monkeypatch):
	monkeypatch.setattr(persistence_jobs, "TAKE_SCAN", 2)
	queue_sessions(time.time())
	moved = Moved()
	run_queued_jobs()
	assert moved.after().counter("batches_taken_over", operation=OPERATION) == 2  # p1 by p0, p3 by p2


def test_when_the_write_together_fails_each_batch_is_written_by_its_own_job(db, short_lock_waits, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	for player in PLAYERS:  # a row per player, so the held lock covers no other player's new rows
		persistence.persist_review_batch([card("q2", "before", now - 100)], player, SEASON)
	job_ids = queue_sessions(now)
	lock = RowLock(PLAYERS[2], SEASON, "q2")
	try:
		with runtime.override_settings(max_retries=0):
			run_queued_jobs()
	finally:
		lock.release()
	failures = logged(caplog, "persist_together_failed")
	assert [line["jobs"] for line in failures] == [4, 3, 2]  # p2's session, taken by p0, p1 and p2 in turn
	assert all(line["level"] == "WARNING" and "Lock wait timeout" in line["error"] for line in failures)
	assert {player: status(job_id) for player, job_id in job_ids.items()} == {
		PLAYERS[0]: "finished",
		PLAYERS[1]: "finished",
		PLAYERS[2]: "failed",
		PLAYERS[3]: "finished",
	}
	assert written(db)[PLAYERS[2]] == {"q2": "before"}
	assert written(db)[PLAYERS[3]] == SESSION_WRITTEN
	assert [f["job_id"] for f in persistence.failed_batches()] == [job_ids[PLAYERS[2]]]


def test_a_queued_job_that_is_not_a_fit_goes_back_and_runs_alone(db):
	now = time.time()
	first = persistence.queue_review_batch([card("q1", "r1", now)], PLAYERS[0], SEASON)
	bad = JOB_ID_START + "not-a-batch"
	runtime.enqueue(
		persistence.JOB_TARGET,
		queue="short",
		job_id=bad,
		responses=[card("q1", "x", now, stability="lots")],
		user=PLAYERS[1],
		season=SEASON,
	)
	stranger = JOB_ID_START + "not-persistence"
	runtime.enqueue(f"{JOBS}.whoami", queue="short", job_id=stranger)
	last = persistence.queue_review_batch([card("q1", "r1", now)], PLAYERS[2], SEASON)
	moved = Moved()
	run_queued_jobs()
	assert moved.after().counter("batches_taken_over", operation=OPERATION) == 1
	assert (status(first), status(bad), status(stranger), status(last)) == (
		"finished",
		"failed",
		"finished",
		"finished",
	)
	assert "stability" in runtime.fetch_job(bad).error
	assert runtime.fetch_job(stranger).result["pid"] == os.getpid()
	assert [sorted(rows(db, p)) for p in PLAYERS[:3]] == [["q1"], [], ["q1"]]


def test_a_failed_job_raises_its_errors(db, short_lock_waits):
	now = time.time()
	persistence.persist_review_batch([card("q1", "before", now - 100)], PLAYER, SEASON)
	job_id = persistence.queue_review_batch([card("q1", "r1", now), card("q2", "r2", now)], PLAYER, SEASON)
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		run_queued_jobs()
	finally:
		lock.release()
	error = runtime.fetch_job(job_id).error
	assert "PersistenceFailed: OperationalError: (1205, 'Lock wait timeout exceeded" in error
	assert [(r["status"], r["attempt"]) for r in audit_rows(db)] == [
		("Retry", 1),
		("Retry", 2),
		("Failed", 3),
	]


def test_an_erased_players_batch_taken_over_is_dropped_and_the_others_written(db, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	erased = erased_now(PLAYERS[1])
	job_ids = queue_sessions(erased)  # reviewed at the very moment of the erasure: before it, so dropped
	run_queued_jobs()
	assert written(db) == {
		**EVERY_SESSION_WRITTEN,
		PLAYERS[1]: {},
	}
	assert all(status(job_id) == "finished" for job_id in job_ids.values())
	assert logged(caplog, "persist_erased_dropped") == [
		{"subjects": [pseudonym(PLAYERS[1])], "level": "INFO"}
	]
	assert logged(caplog, "persist_together_failed") == []  # one write for all, the erased one's left out
	assert pending.get_all(PLAYERS[1], SEASON) != {}  # left alone: the erasure deletes them


@pytest.mark.fault
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # RQ's listener dies too
@pytest.mark.parametrize(
	("write_together", "event"),
	[("commits", "persist_jobs_not_finished"), ("fails", "persist_jobs_not_returned")],
)
def test_the_queues_redis_lost_under_a_write_of_batches_taken_over_loses_none(
	db, queue_redis_proxy, caplog, write_together, event
):
	"""The queue's Redis goes away while the write of the batches taken over waits on a row lock: once
	it commits, their jobs cannot be recorded finished; once it fails, they cannot be given back. The
	worker dies with its Redis; its jobs stay started, and recovery brings each back: every answer lands."""
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	last = PLAYERS[-1]
	persistence.persist_review_batch([card("q2", "before", now - 100)], last, SEASON)
	job_ids = queue_sessions(now)
	lock = RowLock(last, SEASON, "q2")

	def cut_while_the_write_waits() -> None:
		if wait_until(lock.upserts_held_up, timeout=30):  # else the write goes through, and nothing raises
			queue_redis_proxy.cut()
			if write_together == "fails":
				lock.interrupt(lock.upserts_held_up())
		lock.release()

	watcher = threading.Thread(target=cut_while_the_write_waits)
	watcher.start()
	try:
		with pytest.raises(RedisConnectionError):
			run_queued_jobs()  # the worker in this process, with its Redis cut
	finally:
		watcher.join()
		lock.release()
		queue_redis_proxy.restore()

	lines = logged(caplog, event)
	assert [(line["level"], line["jobs"]) for line in lines] == [("WARNING", 3)]
	assert re.search("connection|socket", lines[0]["error"], re.IGNORECASE)  # redis-py's words for a cut
	assert all(status(job_id) == "started" for job_id in job_ids.values())
	taken_together = written(db) == EVERY_SESSION_WRITTEN
	assert taken_together == (write_together == "commits")

	registration_expired()
	assert sorted(persistence.recover_abandoned_jobs()) == sorted(job_ids.values())
	run_queued_jobs()
	assert all(status(job_id) == "finished" for job_id in job_ids.values())
	assert written(db) == EVERY_SESSION_WRITTEN
	assert all(pending.get_all(player, SEASON) == {} for player in PLAYERS)
