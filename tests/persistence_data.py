"""Row readers, a row lock and job clean-up shared by the persistence tests."""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

from memora import runtime, standalone
from memora.services.erasure import entry as erasure_entry
from memora.services.pseudonym import pseudonym
from memora.services.srs import pending, persistence
from memora.tests.cards import card
from tests.harness.workers import wait_until

PLAYER = "p@x.com"
SEASON = "S1"
PLAYERS = [f"p{n}@x.com" for n in range(4)]


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


# The connections whose tracker upsert is inside MariaDB (in a test: waiting for a row lock it holds).
UPSERTS_RUNNING = (
	"select id from information_schema.processlist "
	"where db = database() and info like 'insert into `tabPlayer Memory Tracker`%%'"
)


def upsert_waiting(db) -> bool:
	"""A worker's tracker upsert is inside MariaDB, waiting for a row lock."""
	db.rollback()
	return bool(db.sql(UPSERTS_RUNNING))


class HeldLock:
	"""Another connection holding the locks `sql` takes (a locking read), until `release`."""

	def __init__(self, sql: str, args: tuple = ()) -> None:
		self.conn = pymysql.connect(**runtime.db_config())
		with self.conn.cursor() as cursor:
			cursor.execute(sql, args)

	def upserts_held_up(self) -> list[int]:
		"""The connections whose tracker upsert waits inside MariaDB (asked on this connection, which
		keeps its locks)."""
		with self.conn.cursor() as cursor:
			cursor.execute(UPSERTS_RUNNING)
			return [row[0] for row in cursor.fetchall()]

	def interrupt(self, connection_ids: list[int]) -> None:
		"""Make the statements of `connection_ids` fail (error 1317), as a lost lock wait would."""
		with self.conn.cursor() as cursor:
			for connection_id in connection_ids:
				cursor.execute("kill query %s", (connection_id,))

	def release(self) -> None:
		"""Let the locks go (once; a second call finds nothing held)."""
		if self.conn.open:
			self.conn.rollback()
			self.conn.close()


class RowLock(HeldLock):
	"""The row lock of a card's tracker, so writes to it wait and time out."""

	def __init__(self, player: str, season: str, question_id: str) -> None:
		super().__init__(
			"select name from `tabPlayer Memory Tracker` "
			"where player = %s and season = %s and question_id = %s for update",
			(player, season, question_id),
		)


def release_at_first_retry(monkeypatch, lock: HeldLock) -> None:
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
	from rq.results import Result

	rq_queue = runtime.rq_queue(queue)
	registries = (rq_queue.started_job_registry, rq_queue.finished_job_registry, rq_queue.failed_job_registry)
	job_ids = set(rq_queue.job_ids).union(*(r.get_job_ids() for r in registries))
	for job in Job.fetch_many(list(job_ids), connection=rq_queue.connection):
		if job is not None:
			Result.delete_all(job)  # RQ keeps a job's results apart from it
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


@contextmanager
def rq_in_this_process() -> Iterator[None]:
	"""RQ's worker calls, run in the test process, leave its signal handlers as they were (a worker
	installs its own)."""
	handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
	try:
		with warnings.catch_warnings():
			warnings.filterwarnings("ignore", category=DeprecationWarning, module="rq.connections")
			yield
	finally:
		for sig, handler in handlers.items():
			signal.signal(sig, handler)


def taken_by_a_dead_worker(job_id: str) -> None:
	"""What a worker killed mid-job leaves behind: the job off its queue and "started" by a worker whose
	registration is gone (RQ's own steps for starting a job, then nothing)."""
	from rq import Worker
	from rq.job import Job

	queue = runtime.rq_queue(runtime.settings().persistence_queue)
	job = Job.fetch(job_id, connection=queue.connection)  # standalone: RQ ids are the ones given
	queue.remove(job)
	worker = Worker([queue], connection=queue.connection, name=f"gone-{job.id}")
	with rq_in_this_process():
		worker.prepare_job_execution(job)
	queue.connection.delete(worker.key)


def registration_expired(queue: str = "short") -> None:
	"""What the expiry of its registration leaves of a worker in this process that died when its Redis
	went away: nothing, so recovery counts the jobs it held as abandoned."""
	from rq import Worker

	rq_queue = runtime.rq_queue(queue)
	for worker in Worker.all(queue=rq_queue):
		if worker.pid == os.getpid():
			rq_queue.connection.delete(worker.key)


def run_queued_jobs(queue: str = "short") -> None:
	"""Run what waits on `queue` in this process, as a standalone worker does, and return when it is empty."""
	with rq_in_this_process():
		standalone.run_worker([queue], burst=True)


def record_pending(states: list[dict], player: str = PLAYER, season: str = SEASON) -> None:
	"""States accepted and pending in Redis, as a submit leaves them."""
	pipe = runtime.redis_client().pipeline()
	pending.record(pipe, player, season, states)
	pipe.execute()


# What `queue_sessions` (default prefix) leaves written, as `written` reads it back: per player, and for all.
SESSION_WRITTEN = {f"q{i}": f"r{i}" for i in range(3)}
EVERY_SESSION_WRITTEN = {player: SESSION_WRITTEN for player in PLAYERS}


def queue_sessions(now: float, prefix: str = "r") -> dict[str, str]:
	"""One queued review session of three cards per player, pending in Redis as after a submit; the
	job id of each player's session."""
	job_ids = {}
	for player in PLAYERS:
		states = [card(f"q{i}", f"{prefix}{i}", now, stability=float(i + 1)) for i in range(3)]
		record_pending(states, player)
		job_ids[player] = persistence.queue_review_batch(states, player, SEASON)
	return job_ids


def written(db) -> dict[str, dict[str, str]]:
	return {player: {q: r["last_review_id"] for q, r in rows(db, player).items()} for player in PLAYERS}


def erased_now(player: str = PLAYER) -> float:
	"""Record `player`'s erasure as of now, as `erase_player` does first; its Unix time."""
	now = runtime.now()
	erasure_entry.record(erasure_entry.PLAYER, pseudonym(player), player, None, now)
	runtime.db().commit()
	return runtime.to_ts(now)
