"""Running Memora without a bench: a database of its own, built from the DocType JSON, and RQ workers."""

from __future__ import annotations

import os
import re
import secrets

import pymysql

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


def run_worker(queues: list[str], burst: bool = False) -> None:
	"""An RQ worker on Memora's standalone queues; jobs run through `runtime.execute_job`."""
	from rq import Queue, Worker

	connection = runtime.queue_connection()
	worker = Worker(
		[Queue(runtime.queue_name(q), connection=connection) for q in queues], connection=connection
	)
	worker.work(burst=burst, logging_level="WARNING")
