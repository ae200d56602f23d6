"""A persistence job takes over the batches queued behind it and writes them in its own transaction, in
real worker processes: each taken job still finishes with its own result, a failed write gives them all
back, and a worker killed in the middle loses none of them. (Step by step in the test's own process:
test_persistence_worker.py.)"""

from __future__ import annotations

import time

import pytest

from memora import runtime
from memora.services.srs import pending, persistence
from memora.services.srs.persistence.batch import JOB_ID_START
from memora.tests.cards import card
from tests.harness.workers import wait_until
from tests.persistence_data import (
	EVERY_SESSION_WRITTEN,
	PLAYERS,
	SEASON,
	RowLock,
	audit_rows,
	forget_jobs,
	queue_sessions,
	rows,
	upsert_waiting,
	written,
)
from tests.persistence_data import job_status as status


@pytest.fixture(autouse=True)
def fresh_queue():
	yield
	forget_jobs()


def test_queued_batches_are_written_in_the_first_jobs_transaction_and_each_job_finishes(db, workers):
	job_ids = queue_sessions(time.time())
	workers("short")
	assert wait_until(lambda: all(status(j) == "finished" for j in job_ids.values()), timeout=30)

	assert written(db) == EVERY_SESSION_WRITTEN
	modified = {r["modified"] for player in PLAYERS for r in rows(db, player).values()}
	assert len(modified) == 1  # one write: every row carries the time it started
	for job_id in job_ids.values():
		outcome = persistence.get_persistence_status(job_id)
		assert outcome["result"] == {"success": True, "processed_count": 3, "failed_count": 0, "errors": []}
	assert all(pending.get_all(player, SEASON) == {} for player in PLAYERS)


@pytest.mark.fault
def test_a_failed_write_gives_the_jobs_back_to_be_written_each_by_its_own(db, workers, mariadb_proxy):
	job_ids = queue_sessions(time.time())
	first = job_ids[PLAYERS[0]]
	mariadb_proxy.cut()
	workers("short", MEMORA_DB_PORT=str(mariadb_proxy.port), MEMORA_RETRY_DELAY_BASE="0.5")
	assert wait_until(lambda: status(first) == "started", timeout=30)
	# The write together fails; the first job retries its own batch alone, and is refused again.
	refused = mariadb_proxy.refused  # the worker's start-up hooks may have been refused already
	assert wait_until(lambda: mariadb_proxy.refused >= refused + 2, timeout=30)
	mariadb_proxy.restore()

	assert wait_until(lambda: all(status(j) == "finished" for j in job_ids.values()), timeout=30)
	assert written(db) == EVERY_SESSION_WRITTEN
	assert {r["job_id"] for r in audit_rows(db, "Retry")} == {first}  # the others were given back
	assert runtime.fetch_job(job_ids[PLAYERS[1]]).redeliveries == 0


@pytest.mark.fault
def test_worker_killed_while_writing_batches_it_took_over_loses_none(db, workers):
	now = time.time()
	last = PLAYERS[-1]
	persistence.persist_review_batch([card("q2", "before", now - 100)], last, SEASON)
	lock = RowLock(last, SEASON, "q2")  # the write together waits on the last session's card
	job_ids = queue_sessions(now)
	worker = workers("short")
	try:
		assert wait_until(lambda: all(status(j) == "started" for j in job_ids.values()), timeout=30)
		assert wait_until(lambda: upsert_waiting(db), timeout=30)
		worker.kill()
	finally:
		lock.release()
	assert written(db) == {**{p: {} for p in PLAYERS[:-1]}, last: {"q2": "before"}}

	workers("short")  # recovery puts every job back, the taken ones included
	assert wait_until(lambda: all(status(j) == "finished" for j in job_ids.values()), timeout=30)
	assert written(db) == EVERY_SESSION_WRITTEN
	assert all(runtime.fetch_job(j).redeliveries == 1 for j in job_ids.values())
	assert all(pending.get_all(player, SEASON) == {} for player in PLAYERS)


def test_outside_a_worker_nothing_is_taken(db):
	job_ids = queue_sessions(time.time())
	assert runtime.take_queued_jobs("short", JOB_ID_START, 10, 100) == []
	assert all(status(j) == "queued" for j in job_ids.values())
