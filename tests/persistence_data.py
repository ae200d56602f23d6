"""Row readers, a row lock and job clean-up shared by the persistence tests."""

from __future__ import annotations

import pymysql

from memora import runtime
from memora.services.srs import persistence
from tests.harness.workers import wait_until

PLAYER = "p@x.com"
SEASON = "S1"


def rows(db, player: str = PLAYER) -> dict[str, dict]:
	db.rollback()
	found = db.sql(
		"select * from `tabPlayer Memory Tracker` where player = %s order by question_id",
		(player,),
		as_dict=True,
	)
	return {row["question_id"]: row for row in found}


def audit_rows(db, status: str | None = None) -> list[dict]:
	db.rollback()
	found = db.sql("select * from `tabSRS Audit Log` order by creation, name", as_dict=True)
	return [row for row in found if status in (None, row["status"])]


def session_inserts(db) -> int:
	"""INSERT statements this connection has sent (plain and INSERT … SELECT)."""
	found = db.sql("show session status where variable_name in ('Com_insert', 'Com_insert_select')")
	return sum(int(value) for _, value in found)


def job_status(job_id: str) -> str | None:
	job = runtime.fetch_job(job_id)
	return None if job is None else job.status


def upsert_waiting(db) -> bool:
	"""A worker's tracker upsert is inside MariaDB, waiting for a row lock."""
	db.rollback()
	return bool(
		db.sql(
			"select count(*) from information_schema.processlist "
			"where db = database() and info like 'insert into `tabPlayer Memory Tracker`%%'"
		)[0][0]
	)


class RowLock:
	"""Another connection holding the row lock of a card, so writes to it wait and time out."""

	def __init__(self, player: str, season: str, question_id: str) -> None:
		self.conn = pymysql.connect(**runtime.db_config())
		with self.conn.cursor() as cursor:
			cursor.execute(
				"select name from `tabPlayer Memory Tracker` "
				"where player = %s and season = %s and question_id = %s for update",
				(player, season, question_id),
			)

	def release(self) -> None:
		self.conn.rollback()
		self.conn.close()


def release_at_first_retry(monkeypatch, lock: RowLock) -> None:
	"""Let the row go as the write records its first retry: the first attempt times out on the lock
	and the second finds the row free, whatever the machine's speed (no timer racing the timeout)."""
	from memora.services.srs.persistence.write import BatchWrite

	recorded = BatchWrite.record_retry

	def record_retry(write, call) -> None:
		recorded(write, call)
		if not write.retries[1:]:
			lock.release()

	monkeypatch.setattr(BatchWrite, "record_retry", record_retry)


def forget_jobs(queue: str = "short") -> None:
	"""Delete this run's jobs on `queue` (queued, running, finished, failed): job ids are derived from
	the reviews, so a later test with the same reviews would otherwise find an earlier test's job."""
	from rq.job import Job

	rq_queue = runtime.rq_queue(queue)
	registries = (rq_queue.started_job_registry, rq_queue.finished_job_registry, rq_queue.failed_job_registry)
	job_ids = set(rq_queue.job_ids).union(*(r.get_job_ids() for r in registries))
	for job in Job.fetch_many(list(job_ids), connection=rq_queue.connection):
		if job is not None:
			job.delete()
	rq_queue.empty()


def kill_worker_mid_batch(db, workers, states: list[dict], player: str = PLAYER, season: str = SEASON) -> str:
	"""Queue `states` and crash the worker while its upsert waits on a row lock this test holds, so
	the batch is cut off after it started and before it committed."""
	lock = RowLock(player, season, states[0]["question_id"])
	worker = workers("short")
	job_id = persistence.queue_review_batch(states, player, season)
	try:
		assert wait_until(lambda: upsert_waiting(db), timeout=30)
		worker.kill()
	finally:
		lock.release()
	return job_id
