"""Running Memora without a bench: a database of its own, built from the DocType JSON, and RQ workers."""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from importlib import import_module

import pymysql
import redis
from rq import Queue, SimpleWorker

from memora import install, runtime, schema
from memora.services import metrics

DB_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,64}")


def server_connection() -> pymysql.connections.Connection:
	config = {k: v for k, v in runtime.db_config().items() if k != "database"}
	return pymysql.connect(**{**config, "autocommit": True})


def create_database(name: str) -> None:
	"""Create (or reuse) a database, point the runtime at it and build every table in it."""
	if not DB_NAME_RE.fullmatch(name):
		raise ValueError(f"database name {name!r} must match {DB_NAME_RE.pattern}")
	with server_connection() as conn, conn.cursor() as cursor:
		cursor.execute(
			f"create database if not exists `{name}` character set utf8mb4 collate utf8mb4_unicode_ci"
		)
	os.environ["MEMORA_DB_NAME"] = name
	schema.create_tables()
	install.shape_tables()


def drop_database(name: str) -> None:
	"""Drop a database and every Redis key namespaced to it."""
	if not DB_NAME_RE.fullmatch(name):
		raise ValueError(f"database name {name!r} must match {DB_NAME_RE.pattern}")
	runtime.db().close()
	with server_connection() as conn, conn.cursor() as cursor:
		cursor.execute(f"drop database if exists `{name}`")
	# Figures still buffered would be flushed at exit, after the keys below are gone: send them first.
	metrics.flush()
	client = runtime.redis_client()
	for key in client.scan_iter(match=f"{name}|*", count=1000):
		client.delete(key)
	purge_queues(name)


def purge_queues(database: str) -> None:
	"""Delete a database's RQ queues, their registries and every job in them."""
	from rq import Queue
	from rq.job import Job

	connection = runtime.queue_connection()
	for queue_name in runtime.QUEUES:
		queue = Queue(runtime.queue_name(queue_name, database), connection=connection)
		registries = (
			queue.started_job_registry,
			queue.finished_job_registry,
			queue.failed_job_registry,
			queue.deferred_job_registry,
			queue.scheduled_job_registry,
			queue.canceled_job_registry,
		)
		job_ids = set(queue.get_job_ids())
		for registry in registries:
			job_ids.update(registry.get_job_ids())
		connection.delete(queue.key, *(r.key for r in registries), *(Job.key_for(j) for j in job_ids))
	for key in connection.scan_iter(match=f"memora:{database}:in-flight*", count=1000):
		connection.delete(key)


def throwaway_name(purpose: str) -> str:
	return f"memora_{purpose}_{secrets.token_hex(4)}"


# Run by every standalone worker when it starts and then every RECOVERY_INTERVAL seconds: they put
# back jobs whose worker died (RQ 1.15 would only move them to the failed registry). In a site the
# scheduler runs the same functions (hooks.py).
RECOVERY_HOOKS = (
	"memora.services.srs.persistence.jobs.recover_abandoned_jobs",
	"memora.services.srs.resync_marks.recover",
)
RECOVERY_INTERVAL = 60
# A database connection idle longer than this is replaced before the next job, in case the server or a
# proxy dropped it meanwhile (what redis-py's health_check_interval does for the Redis connections).
DB_IDLE_SECONDS = 30


class MemoraWorker(SimpleWorker):
	"""An RQ worker that runs each job in its own process, plus Memora's recovery hooks in its periodic
	maintenance.

	RQ's default worker forks a work horse per job, which then connects to MariaDB and Redis afresh: for
	a persistence job of one review session that was several times the job itself, and it capped one
	worker below the review rate the SRS engine must sustain. Here connections live from job to job.
	A job that crashes the process takes the worker down with it; the job stays "started" and is
	redelivered by `recover_abandoned_jobs` (see docs/persistence.md).
	"""

	def __init__(self, *args, **kwargs) -> None:
		super().__init__(*args, **kwargs)
		self.push_exc_handler(drop_database_connection)
		self.last_job_ended = time.monotonic()

	def execute_job(self, job, queue) -> None:
		if time.monotonic() - self.last_job_ended > DB_IDLE_SECONDS:
			runtime.db().close()
		try:
			super().execute_job(job, queue)
		finally:
			self.last_job_ended = time.monotonic()

	def run_maintenance_tasks(self) -> None:
		super().run_maintenance_tasks()
		run_recovery_hooks()


def drop_database_connection(job, *exc_info) -> None:
	"""After a failed job: close its database connection, which a timeout or a cold shutdown may have cut
	off in the middle of a statement; the next job opens a fresh one. Returns None: the next exception
	handler runs too."""
	runtime.db().close()


def run_recovery_hooks() -> None:
	"""Each hook on its own: one failing is logged and does not stop the others or the worker."""
	for hook in RECOVERY_HOOKS:
		module_name, _, attr = hook.rpartition(".")
		try:
			getattr(import_module(module_name), attr)()
		except Exception as e:
			runtime.log("recovery_hook_failed", logging.ERROR, hook=hook, error=f"{type(e).__name__}: {e}")
			runtime.reset_db_after_error()


def run_worker(queues: list[str], burst: bool = False) -> None:
	"""A Memora worker on the standalone queues; jobs run through `runtime.execute_job`. Its Redis
	connection has no short socket timeout: RQ blocks in BLPOP for minutes and sets its own timeout."""
	connection = redis.Redis.from_url(runtime.queue_url())
	worker = MemoraWorker(
		[Queue(runtime.queue_name(q), connection=connection) for q in queues],
		connection=connection,
		maintenance_interval=RECOVERY_INTERVAL,
	)
	worker.work(burst=burst, logging_level="WARNING")
