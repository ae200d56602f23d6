"""Running Memora without a bench: a database of its own, built from the DocType JSON, and RQ workers."""

from __future__ import annotations

import logging
import os
import re
import secrets
from importlib import import_module

import pymysql
import redis
from rq import Queue, Worker

from memora import runtime, schema

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


def drop_database(name: str) -> None:
	"""Drop a database and every Redis key namespaced to it."""
	if not DB_NAME_RE.fullmatch(name):
		raise ValueError(f"database name {name!r} must match {DB_NAME_RE.pattern}")
	runtime.db().close()
	with server_connection() as conn, conn.cursor() as cursor:
		cursor.execute(f"drop database if exists `{name}`")
	client = runtime.redis_client()
	for key in client.scan_iter(match=f"{name}|*", count=1000):
		client.delete(key)


def throwaway_name(purpose: str) -> str:
	return f"memora_{purpose}_{secrets.token_hex(4)}"


# Run by every standalone worker when it starts and then every RECOVERY_INTERVAL seconds: they put
# back jobs whose worker died (RQ 1.15 would only move them to the failed registry). In a site the
# scheduler runs the same functions (hooks.py).
RECOVERY_HOOKS = ("memora.services.srs_persistence.recover_abandoned_jobs",)
RECOVERY_INTERVAL = 60


class MemoraWorker(Worker):
	"""RQ's forking worker, plus Memora's recovery hooks in its periodic maintenance."""

	def run_maintenance_tasks(self) -> None:
		super().run_maintenance_tasks()
		run_recovery_hooks()


def run_recovery_hooks() -> None:
	"""Each hook on its own: one failing is logged and does not stop the others or the worker."""
	for hook in RECOVERY_HOOKS:
		module_name, _, attr = hook.rpartition(".")
		try:
			getattr(import_module(module_name), attr)()
		except Exception as e:
			runtime.log("recovery_hook_failed", logging.ERROR, hook=hook, error=f"{type(e).__name__}: {e}")
			runtime.reset_db_after_error()
	# Work horses are forked from this process: they must not inherit its database connection.
	runtime.db().close()


def run_worker(queues: list[str], burst: bool = False) -> None:
	"""An RQ worker on Memora's standalone queues; jobs run through `runtime.execute_job`. Its Redis
	connection has no short socket timeout: RQ blocks in BLPOP for minutes and sets its own timeout."""
	connection = redis.Redis.from_url(runtime.queue_url())
	worker = MemoraWorker(
		[Queue(runtime.queue_name(q), connection=connection) for q in queues],
		connection=connection,
		maintenance_interval=RECOVERY_INTERVAL,
	)
	worker.work(burst=burst, logging_level="WARNING")
