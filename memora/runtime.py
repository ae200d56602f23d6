"""The one seam between Memora's services and the outside world.

Inside a Frappe site every call goes to Frappe (`frappe.db`, the site's Redis, `frappe.enqueue`,
`frappe.logger`, Memora Settings); outside a site the same calls go to PyMySQL, redis-py and RQ,
configured from environment variables. Services import this module and never `frappe` itself, so
the code that runs in a bench is the code the standalone suite tests.

Environment (standalone only): MEMORA_DB_HOST, MEMORA_DB_PORT, MEMORA_DB_USER, MEMORA_DB_PASSWORD,
MEMORA_DB_NAME, MEMORA_REDIS_URL, MEMORA_TIME_ZONE, and MEMORA_<SETTING> for any Memora Settings field.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pymysql
import redis
from pymysql.constants import ER

APP_ROOT = Path(__file__).resolve().parent
DOCTYPE_ROOT = APP_ROOT / "memora" / "doctype"
JOB_RUNNER = "memora.runtime.execute_job"

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("memora_correlation", default=None)
_settings_override: dict[str, Any] = {}
_local = threading.local()
_lock = threading.Lock()


@cache
def _frappe_installed() -> bool:
	"""Asked once: a failed import is retried (and costs ~30 µs) on every call otherwise."""
	try:
		import frappe  # noqa: F401
	except ImportError:
		return False
	return True


def in_site() -> bool:
	"""True inside a Frappe request, job or console with a connected site."""
	if not _frappe_installed():
		return False
	import frappe

	return bool(getattr(frappe.local, "site", None)) and getattr(frappe.local, "db", None) is not None


def _frappe():
	import frappe

	return frappe


# --- database -------------------------------------------------------------------------------


class StandaloneDB:
	"""A PyMySQL connection per thread that answers the part of `frappe.db` the services use."""

	def __init__(self, **conn_args: Any) -> None:
		self.conn_args = conn_args

	@property
	def name(self) -> str:
		return self.conn_args["database"]

	def _connection(self) -> pymysql.connections.Connection:
		conn = getattr(_local, "conn", None)
		if conn is None or not conn.open or getattr(_local, "conn_key", None) != id(self):
			conn = pymysql.connect(**self.conn_args)
			_local.conn, _local.conn_key = conn, id(self)
		return conn

	def sql(self, query: str, values: Any = None, as_dict: bool = False) -> Any:
		cursor_class = pymysql.cursors.DictCursor if as_dict else pymysql.cursors.Cursor
		with self._connection().cursor(cursor_class) as cursor:
			cursor.execute(query, values)
			rows = cursor.fetchall()
		return list(rows) if as_dict else rows

	def sql_ddl(self, query: str) -> None:
		"""DDL commits implicitly; commit first so the caller's writes are never swept up by surprise."""
		self.commit()
		self.sql(query)

	def commit(self) -> None:
		self._connection().commit()

	def rollback(self) -> None:
		conn = getattr(_local, "conn", None)
		if conn is not None and conn.open:
			conn.rollback()

	def close(self) -> None:
		conn = getattr(_local, "conn", None)
		if conn is not None and conn.open:
			conn.close()
		_local.conn = None


def database_name() -> str:
	"""The standalone database, read alone: key prefixes ask for it on every metric and Redis key."""
	return os.environ.get("MEMORA_DB_NAME", "memora")


def db_config() -> dict[str, Any]:
	"""Connection arguments for the standalone database, from the environment."""
	return {
		"host": os.environ.get("MEMORA_DB_HOST", "127.0.0.1"),
		"port": int(os.environ.get("MEMORA_DB_PORT", "3306")),
		"user": os.environ.get("MEMORA_DB_USER", "root"),
		"password": os.environ.get("MEMORA_DB_PASSWORD", ""),
		"database": database_name(),
		"charset": "utf8mb4",
		"autocommit": False,
		"connect_timeout": 5,
		"read_timeout": int(os.environ.get("MEMORA_DB_READ_TIMEOUT", "60")),
		"write_timeout": 60,
	}


_standalone_db: StandaloneDB | None = None


def db():
	"""`frappe.db` in a site, otherwise the standalone PyMySQL database (same `sql`/`commit`/`rollback`)."""
	if in_site():
		return _frappe().db
	global _standalone_db
	config = db_config()
	if _standalone_db is None or _standalone_db.conn_args != config:
		_standalone_db = StandaloneDB(**config)
	return _standalone_db


TRANSIENT_DB_ERRORS = frozenset(
	{
		ER.LOCK_DEADLOCK,
		ER.LOCK_WAIT_TIMEOUT,
		ER.SERVER_SHUTDOWN,
		ER.CON_COUNT_ERROR,
		1927,  # connection was killed
		2003,  # can't connect
		2006,  # server has gone away
		2013,  # lost connection during query
	}
)


def is_transient_db_error(exc: BaseException) -> bool:
	"""Errors worth retrying: the same statement may well succeed a moment later. Follows the cause
	chain, because Frappe re-raises deadlocks and lock wait timeouts as its own exceptions."""
	if exc.__cause__ is not None and is_transient_db_error(exc.__cause__):
		return True
	if isinstance(exc, pymysql.err.InterfaceError | ConnectionError | TimeoutError):
		return True
	return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] in TRANSIENT_DB_ERRORS


def reset_db_after_error() -> None:
	"""Roll back after a failed statement; if the connection died with it, drop the connection so the
	next query opens a fresh one (Frappe's `frappe.db` does not reconnect by itself)."""
	database = db()
	try:
		database.rollback()
	except (pymysql.err.Error, OSError):
		database.close()


def is_duplicate_entry(exc: BaseException) -> bool:
	return isinstance(exc, pymysql.err.IntegrityError) and bool(exc.args) and exc.args[0] == ER.DUP_ENTRY


STATEMENT_TIMEOUT = 1969  # ER_STATEMENT_TIMEOUT: max_statement_time exceeded


def driver_error(exc: BaseException) -> BaseException:
	"""The PyMySQL error behind `exc`: in a site, `frappe.db.sql` re-raises deadlocks and lock wait
	timeouts as its own QueryDeadlockError / QueryTimeoutError `from` the driver's error."""
	cause = exc.__cause__
	if not isinstance(exc, pymysql.err.MySQLError) and isinstance(cause, pymysql.err.MySQLError):
		return cause
	return exc


def is_db_error(exc: BaseException) -> bool:
	"""An error from the database server or the connection to it, as opposed to a bug in the caller."""
	return isinstance(driver_error(exc), pymysql.err.MySQLError | OSError)


def is_statement_timeout(exc: BaseException) -> bool:
	"""A statement cut off by MariaDB's max_statement_time (`SET STATEMENT ... FOR`)."""
	exc = driver_error(exc)
	return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] == STATEMENT_TIMEOUT


# --- redis ----------------------------------------------------------------------------------


def redis_url(current: Settings | None = None) -> str:
	"""Memora Settings' override, else the site's redis_cache, else MEMORA_REDIS_URL."""
	override = (current or settings()).redis_url
	if override:
		return override
	if in_site():
		return _frappe().conf.redis_cache
	return os.environ.get("MEMORA_REDIS_URL", "redis://127.0.0.1:6379/0")


def key_prefix() -> str:
	"""Per-site namespace, the same one `frappe.cache.make_key` applies (sorted-set commands are not
	auto-prefixed by Frappe's wrapper, so Memora prefixes every key itself)."""
	if in_site():
		return _frappe().cache.make_key("").decode()
	return f"{database_name()}|"


def key(*parts: str) -> str:
	return key_prefix() + ":".join(parts)


@cache
def _redis_client(url: str, timeout_ms: int, decode: bool) -> redis.Redis:
	return redis.Redis.from_url(
		url,
		decode_responses=decode,
		socket_timeout=timeout_ms / 1000,
		socket_connect_timeout=timeout_ms / 1000,
		health_check_interval=30,
	)


def redis_client(current: Settings | None = None) -> redis.Redis:
	"""Client for Memora's data (strings decoded) with short timeouts, so a stuck Redis is noticed fast.
	`current` saves reading the settings again when the caller holds them."""
	current = current or settings()
	return _redis_client(redis_url(current), current.redis_socket_timeout_ms, True)


# --- background jobs --------------------------------------------------------------------------


def queue_connection() -> redis.Redis:
	"""The Redis that RQ uses: the site's redis_queue in a bench, MEMORA_QUEUE_URL (or the data Redis) outside."""
	if in_site():
		from frappe.utils.background_jobs import get_redis_conn

		return get_redis_conn()
	return _redis_client(queue_url(), 5000, False)


def queue_url() -> str:
	"""Standalone only: MEMORA_QUEUE_URL, else the data Redis."""
	return os.environ.get("MEMORA_QUEUE_URL") or os.environ.get(
		"MEMORA_REDIS_URL", "redis://127.0.0.1:6379/0"
	)


def queue_side_key(*parts: str) -> str:
	"""A key of Memora's in the queue's Redis, beside the jobs (which a cache clear does not touch),
	namespaced by site or database like the jobs themselves."""
	owner = _frappe().local.site if in_site() else database_name()
	return ":".join(("memora", owner, *parts))


# Frappe's standard queues; the standalone worker serves the same names.
QUEUES = ("short", "default", "long")


def queue_name(queue: str, database: str | None = None) -> str:
	"""Standalone RQ queue name; namespaced by database so parallel test runs never share a queue."""
	return f"memora:{database or database_name()}:{queue}"


def enqueue(
	method: str, queue: str = "default", job_id: str | None = None, timeout: int = 300, **kwargs: Any
):
	"""Run `method(**kwargs)` in a worker; the current correlation id travels with the job."""
	# `frappe.enqueue` owns the names method/queue/timeout/job_id, so the target travels as `target`.
	job_kwargs = {"target": method, "target_kwargs": kwargs, "correlation_id": correlation_id()}
	if in_site():
		return _frappe().enqueue(JOB_RUNNER, queue=queue, job_id=job_id, timeout=timeout, **job_kwargs)
	from rq import Queue

	return Queue(queue_name(queue), connection=queue_connection()).enqueue_call(
		JOB_RUNNER,
		kwargs=job_kwargs,
		job_id=job_id,
		timeout=timeout,
		result_ttl=600,
		failure_ttl=7 * 24 * 3600,
	)


def worker_command(queues: tuple[str, ...] = QUEUES, burst: bool = False) -> list[str]:
	"""The command line of a worker for `queues`: Frappe's in a site (run it in the bench's sites
	folder), `memora worker` outside."""
	if in_site():
		args = [
			sys.executable,
			"-m",
			"frappe.utils.bench_helper",
			"frappe",
			"worker",
			"--queue",
			",".join(queues),
		]
	else:
		args = [sys.executable, "-m", "memora", "worker", *(f"--queue={q}" for q in queues)]
	return [*args, "--burst"] if burst else args


def fetch_job(job_id: str):
	"""The RQ job for an id given to `enqueue`, or None."""
	if in_site():
		from frappe.utils.background_jobs import get_job

		return get_job(job_id)
	from rq.exceptions import NoSuchJobError
	from rq.job import Job

	try:
		return Job.fetch(job_id, connection=queue_connection())
	except NoSuchJobError:
		return None


def execute_job(target: str, target_kwargs: dict, correlation_id: str | None = None) -> Any:
	"""Worker-side entry point: restore the correlation id, run the target, commit or roll back."""
	from importlib import import_module

	module_name, _, attr = target.rpartition(".")
	func = getattr(import_module(module_name), attr)
	# A fresh id for a job that came without one: a worker runs job after job in one process, so the
	# process's own id would tie unrelated jobs together.
	with correlation(correlation_id or new_correlation_id()):
		try:
			result = func(**target_kwargs)
		except BaseException:
			db().rollback()
			raise
		finally:
			for callback in _job_end_callbacks:
				callback()
		db().commit()
		return result


_job_end_callbacks: list[Callable[[], None]] = []


def on_job_end(callback: Callable[[], None]) -> None:
	"""Run `callback` when each job ends: an RQ work horse exits without running atexit handlers, so
	anything buffered in the process (metrics) must be sent here."""
	if callback not in _job_end_callbacks:
		_job_end_callbacks.append(callback)


def is_queue_unavailable(exc: BaseException) -> bool:
	"""The queue could not take a job: its Redis is down or slow, or (in a site) Frappe refuses more jobs."""
	if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
		return True
	return in_site() and isinstance(exc, _frappe().QueueOverloaded)


# --- jobs whose worker died ------------------------------------------------------------------------
# RQ 1.15 never redelivers a job whose worker was killed: its clean-up (on a worker's start and every
# 10 minutes) moves a "started" job whose heartbeat expired to the failed registry. These helpers let a
# service find such jobs of its own sooner and put them back on their queue.

WORKER_KEY_PREFIX = "rq:worker:"
HORSE_KILLED = "Work-horse terminated unexpectedly"
COLD_SHUTDOWN = "SystemExit"  # what ends a job under a worker that runs it in-process and is shut down cold
REDELIVERIES = "memora_redeliveries"


def job_queue(queue: str):
	"""The RQ queue that `enqueue(queue=...)` uses."""
	if in_site():
		from frappe.utils.background_jobs import get_queue

		return get_queue(queue)
	from rq import Queue

	return Queue(queue_name(queue), connection=queue_connection())


def job_call(job) -> dict:
	"""`execute_job`'s arguments (target, target_kwargs, correlation_id) of a job `enqueue` made for this
	site or database; empty for any other job."""
	kwargs = job.kwargs or {}
	if in_site():
		if kwargs.get("site") != _frappe().local.site or kwargs.get("method") != JOB_RUNNER:
			return {}
		return kwargs.get("kwargs") or {}
	return kwargs if job.func_name == JOB_RUNNER else {}


def public_job_id(job) -> str:
	"""The id the caller gave `enqueue` (Frappe prefixes it with the site)."""
	prefix = f"{_frappe().local.site}::" if in_site() else ""
	return job.id.removeprefix(prefix)


def _text(value: Any) -> str | None:
	return value.decode() if isinstance(value, bytes) else value


def worker_is_gone(connection, worker_name: str | None) -> bool:
	"""True when the worker is known dead: its registration expired, or it ran on this host and its
	process no longer exists. A worker on another host counts as alive until its registration expires."""
	if not worker_name:
		return True
	hostname, pid = (_text(v) for v in connection.hmget(WORKER_KEY_PREFIX + worker_name, "hostname", "pid"))
	if hostname is None:
		return True
	if hostname != socket.gethostname() or not pid:
		return False
	try:
		os.kill(int(pid), 0)
	except ProcessLookupError:
		return True
	except PermissionError:
		return False
	return False


def died_with_worker(job) -> bool:
	"""A failed job that did not fail by itself: RQ's clean-up moved it (no failure result of its own),
	its work horse was killed, or a worker running it in-process was shut down cold (RQ ends the job
	with SystemExit). Doubtful cases count as real failures, which stay for a replay."""
	from rq.results import Result

	result = job.latest_result()
	if result is None or result.type != Result.Type.FAILED:
		return True
	trace = (result.exc_string or "").strip()
	last_line = trace.rpartition("\n")[2]
	return HORSE_KILLED in trace or last_line.split(":")[0] == COLD_SHUTDOWN


def job_outcome(job) -> tuple[Any, str | None]:
	"""The latest run of a job: its return value if it succeeded, else the last line of its traceback."""
	from rq.results import Result

	result = job.latest_result()
	if result is None:
		return None, None
	if result.type == Result.Type.SUCCESSFUL:
		return result.return_value, None
	lines = (result.exc_string or "").strip().splitlines()
	return None, lines[-1] if lines else None


def abandoned_jobs(queue: str) -> list:
	"""Jobs of this site on `queue` whose worker died under them: "started" jobs whose heartbeat expired
	or whose worker is gone, and failed jobs that died with their worker."""
	from rq.job import Job

	rq_queue = job_queue(queue)
	connection = rq_queue.connection
	now = time.time()
	started = connection.zrange(rq_queue.started_job_registry.key, 0, -1, withscores=True)
	failed = rq_queue.failed_job_registry.get_job_ids()
	jobs = Job.fetch_many([_text(i) for i, _ in started] + failed, connection=connection)
	expired = {_text(i) for i, score in started if score < now}
	abandoned = []
	for job in jobs[: len(started)]:
		if job and job_call(job) and (job.id in expired or worker_is_gone(connection, job.worker_name)):
			abandoned.append(job)
	abandoned += [job for job in jobs[len(started) :] if job and job_call(job) and died_with_worker(job)]
	return abandoned


def failed_jobs(queue: str) -> list:
	"""Jobs of this site on `queue` in RQ's failed registry."""
	from rq.job import Job

	rq_queue = job_queue(queue)
	jobs = Job.fetch_many(rq_queue.failed_job_registry.get_job_ids(), connection=rq_queue.connection)
	return [job for job in jobs if job and job_call(job)]


def redeliveries(job) -> int:
	"""How often `requeue_job` has put this job back."""
	return int(job.meta.get(REDELIVERIES, 0))


def stranded_jobs(job_ids: list[str]) -> tuple[list, list[str]]:
	"""Of jobs `enqueue` made (by the ids it was given): those marked queued that are on no queue, and
	the ids of those that no longer exist or have finished.

	RQ 1.15 takes a job off its queue (BLPOP) and only then records it started: a worker killed in
	between leaves the job queued, on no queue and in no registry, and nothing would ever run it."""
	from rq import Queue
	from rq.job import Job, JobStatus

	connection = queue_connection()
	prefix = f"{_frappe().local.site}::" if in_site() else ""
	jobs = Job.fetch_many([prefix + job_id for job_id in job_ids], connection=connection)
	stranded, gone = [], []
	for job_id, job in zip(job_ids, jobs, strict=True):
		status = job.get_status(refresh=False) if job else None
		if status in (None, JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.STOPPED):
			gone.append(job_id)
		elif (
			status == JobStatus.QUEUED
			and connection.lpos(Queue(job.origin, connection=connection).key, job.id) is None
		):
			stranded.append(job)
	return stranded, gone


def push_back(job) -> None:
	"""Put a stranded job back on its queue (see `stranded_jobs`)."""
	from rq import Queue

	Queue(job.origin, connection=queue_connection()).push_job_id(job.id)


def requeue_job(job) -> bool:
	"""Put a started-but-abandoned or failed job back on its queue, counting the redelivery. Removing it
	from its registry is the claim: False if another process requeued it first."""
	from rq.exceptions import InvalidJobOperation
	from rq.job import JobStatus

	started = job.get_status(refresh=False) == JobStatus.STARTED
	registry = job.started_job_registry if started else job.failed_job_registry
	job.meta[REDELIVERIES] = redeliveries(job) + 1
	try:
		registry.requeue(job)  # saves the job, meta included
	except InvalidJobOperation:
		return False
	return True


def delete_job(job_id: str) -> None:
	"""Forget the RQ job for an id given to `enqueue` (its registries too), if there is one."""
	job = fetch_job(job_id)
	if job is not None:
		job.delete()


# --- jobs a running job takes over from its queue ----------------------------------------------------
# A job may write the queued jobs behind it together with its own (see `srs_persistence.run_batch_job`).
# Taking one is atomic and leaves it exactly where RQ puts a job it runs: out of the queue, in the
# started registry, marked started by this worker. So a worker that dies before finishing it leaves it
# to `abandoned_jobs` like any job it was running, and nothing taken is ever only in this process.

_TAKE_QUEUED = """
local taken = {}
for _, id in ipairs(redis.call('lrange', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
	if #taken >= tonumber(ARGV[2]) then break end
	if string.sub(id, 1, #ARGV[3]) == ARGV[3] and redis.call('lrem', KEYS[1], 1, id) == 1 then
		redis.call('zadd', KEYS[2], ARGV[4], id)
		redis.call('hset', ARGV[5] .. id, 'status', 'started', 'worker_name', ARGV[6],
			'started_at', ARGV[7], 'last_heartbeat', ARGV[7])
		taken[#taken + 1] = id
	end
end
return taken
"""


def take_queued_jobs(queue: str, job_id_start: str, limit: int, scan: int) -> list:
	"""Up to `limit` of the first `scan` jobs waiting on `queue` whose id (as given to `enqueue`) starts
	with `job_id_start`, taken over by the job this worker is running; empty outside a worker."""
	from rq import get_current_job
	from rq.job import Job
	from rq.utils import utcformat, utcnow

	current = get_current_job()
	if current is None or limit < 1:
		return []
	rq_queue = job_queue(queue)
	connection = rq_queue.connection
	prefix = f"{_frappe().local.site}::" if in_site() else ""
	ids = connection.register_script(_TAKE_QUEUED)(
		keys=[rq_queue.key, rq_queue.started_job_registry.key],
		args=[
			scan,
			limit,
			prefix + job_id_start,
			time.time() + (current.timeout or rq_queue.DEFAULT_TIMEOUT) + 60,
			Job.redis_job_namespace_prefix,
			current.worker_name or "",
			utcformat(utcnow()),
		],
	)
	return [job for job in Job.fetch_many([_text(i) for i in ids], connection=connection) if job]


def return_jobs(jobs: list) -> None:
	"""Give taken jobs back to the front of their queue, in their order, as if never taken."""
	if not jobs:
		return
	from rq.job import JobStatus

	rq_queue = job_queue_of(jobs[0])
	pipe = rq_queue.connection.pipeline()
	for job in jobs:
		pipe.zrem(rq_queue.started_job_registry.key, job.id)
		pipe.hset(job.key, "status", JobStatus.QUEUED)
	pipe.lpush(rq_queue.key, *reversed([job.id for job in jobs]))
	pipe.execute()


def finish_jobs(outcomes: list[tuple[Any, Any]]) -> None:
	"""Record taken jobs as finished with their return values, as RQ records a job it ran."""
	if not outcomes:
		return
	from rq.defaults import DEFAULT_RESULT_TTL
	from rq.utils import utcnow

	pipe = outcomes[0][0].connection.pipeline()
	for job, value in outcomes:
		job.ended_at, job._result = utcnow(), value
		ttl = job.get_result_ttl(DEFAULT_RESULT_TTL)
		job._handle_success(ttl, pipeline=pipe)
		job.cleanup(ttl, pipeline=pipe, remove_from_queue=False)
		job.started_job_registry.remove(job, pipeline=pipe)
	pipe.execute()


def job_queue_of(job):
	"""The RQ queue a job was enqueued on."""
	from rq import Queue

	return Queue(job.origin, connection=job.connection)


# --- logging and correlation -------------------------------------------------------------------


def new_correlation_id() -> str:
	return uuid.uuid4().hex


def correlation_id() -> str:
	"""The correlation id of the current operation; one is made up if none is set.

	Inside a site an implicit id lives on `frappe.local`, which Frappe clears per request and job,
	so two requests served by one worker thread never share an id.
	"""
	cid = _correlation.get()
	if cid is not None:
		return cid
	if in_site():
		local = _frappe().local
		if not getattr(local, "memora_correlation_id", None):
			local.memora_correlation_id = new_correlation_id()
		return local.memora_correlation_id
	cid = new_correlation_id()
	_correlation.set(cid)
	return cid


@contextmanager
def correlation(cid: str | None = None) -> Iterator[str]:
	"""Tag everything logged inside the block with one id (a new one unless given)."""
	token = _correlation.set(cid or correlation_id())
	try:
		yield _correlation.get()
	finally:
		_correlation.reset(token)


def _logger() -> logging.Logger:
	if in_site():
		return _frappe().logger("memora", allow_site=True)
	return logging.getLogger("memora")


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
	"""One structured log line: event name, correlation id and fields, as JSON."""
	record = {"event": event, "correlation_id": correlation_id(), **fields}
	_logger().log(level, json.dumps(record, default=str, sort_keys=True))


def log_error(title: str, message: str) -> None:
	"""An Error Log entry in a site (what admins watch); an error log line outside."""
	if in_site():
		_frappe().log_error(title=title, message=message)
	log("error", logging.ERROR, title=title, message=message)


ALERT_ROLES = ("System Manager", "Memora Admin")


def alert(
	subject: str, message: str, document_type: str | None = None, document_name: str | None = None
) -> None:
	"""Tell the people who run Memora that something needs a look: in a site a Notification Log (Desk's
	bell) for every enabled System Manager and Memora Admin, plus an Error Log entry; outside, an error
	log line. The caller keeps its own audit row of what happened."""
	if in_site():
		frappe = _frappe()
		recipients = frappe.db.sql_list(
			"""select distinct u.name from `tabUser` u
			join `tabHas Role` r on r.parent = u.name and r.parenttype = 'User'
			where r.role in %(roles)s and u.enabled = 1 and u.name != 'Guest'""",
			{"roles": ALERT_ROLES},
		)
		for user in recipients:
			frappe.get_doc(
				{
					"doctype": "Notification Log",
					"for_user": user,
					"type": "Alert",
					"subject": subject,
					"email_content": message,
					"document_type": document_type,
					"document_name": document_name,
				}
			).insert(ignore_permissions=True)
	log_error(subject, message)


def publish_progress(title: str, done: int, total: int, description: str = "") -> None:
	"""Desk's realtime progress bar inside a site; a debug log line outside."""
	if in_site():
		_frappe().publish_progress(done * 100 / max(total, 1), title=title, description=description)
	else:
		log("progress", logging.DEBUG, title=title, done=done, total=total)


# --- settings ------------------------------------------------------------------------------------


class Settings(dict):
	"""Memora Settings as attributes, typed and defaulted from the DocType JSON."""

	def __getattr__(self, name: str) -> Any:
		try:
			return self[name]
		except KeyError:
			raise AttributeError(name) from None


_CASTS: dict[str, Callable[[Any], Any]] = {
	"Int": lambda v: int(float(v)),
	"Check": lambda v: int(float(v)),
	"Float": float,
	"Percent": float,
	"Currency": float,
}


@cache
@cache
def settings_fields() -> tuple[dict, ...]:
	doc = json.loads((DOCTYPE_ROOT / "memora_settings" / "memora_settings.json").read_text())
	return tuple(f for f in doc["fields"] if f["fieldtype"] not in ("Section Break", "Column Break"))


def _coerce(field: dict, value: Any) -> Any:
	if value in (None, ""):
		value = field.get("default")
	if value in (None, ""):
		return 0 if field["fieldtype"] in _CASTS else None
	return _CASTS.get(field["fieldtype"], str)(value)


# How long a process reuses a site's typed settings. Building them from Frappe's cached document (a Redis
# read, two unpickles and as_dict) cost more than a whole review-session read; a saved change reaches the
# saving process at once (`forget_settings`) and every other worker within this many seconds.
SITE_SETTINGS_TTL = 10.0
_site_settings: dict[str, tuple[float, Settings]] = {}


def settings() -> Settings:
	"""Current settings: Memora Settings in a site; MEMORA_<FIELD> environment variables outside.
	Test overrides (see `override_settings`) win in both.

	Inside a site each process keeps the typed settings of a site for SITE_SETTINGS_TTL seconds."""
	if not in_site():
		source = {
			f["fieldname"]: os.environ.get("MEMORA_" + f["fieldname"].upper()) for f in settings_fields()
		}
		return _typed_settings(source)
	if _settings_override:
		return _typed_settings(_frappe().get_cached_doc("Memora Settings").as_dict())
	site, now = _frappe().local.site, time.monotonic()
	kept = _site_settings.get(site)
	if kept is None or kept[0] <= now:
		kept = (
			now + SITE_SETTINGS_TTL,
			_typed_settings(_frappe().get_cached_doc("Memora Settings").as_dict()),
		)
		_site_settings[site] = kept
	return kept[1]


def _typed_settings(source: dict) -> Settings:
	source = {**source, **_settings_override}
	return Settings({f["fieldname"]: _coerce(f, source.get(f["fieldname"])) for f in settings_fields()})


def forget_settings() -> None:
	"""Drop this process's copy of the site's settings (after Memora Settings is saved)."""
	if in_site():
		_site_settings.pop(_frappe().local.site, None)


@contextmanager
def override_settings(**values: Any) -> Iterator[None]:
	"""Temporarily change settings for this process (tests, benchmarks, the demo)."""
	unknown = set(values) - {f["fieldname"] for f in settings_fields()}
	if unknown:
		raise KeyError(f"Unknown Memora Settings fields: {sorted(unknown)}")
	with _lock:
		saved = dict(_settings_override)
		_settings_override.update(values)
	try:
		yield
	finally:
		with _lock:
			_settings_override.clear()
			_settings_override.update(saved)


# --- clock ---------------------------------------------------------------------------------------


def system_timezone() -> ZoneInfo:
	"""The zone naive datetimes are stored in: the site's System Settings zone, or MEMORA_TIME_ZONE."""
	if in_site():
		from frappe.utils import get_system_timezone

		return ZoneInfo(get_system_timezone())
	return ZoneInfo(os.environ.get("MEMORA_TIME_ZONE", "UTC"))


def now_ts() -> float:
	"""Unix time. The one clock the services read, so tests and benchmarks agree with Redis scores."""
	return time.time()


def now() -> datetime:
	"""Naive datetime in the system zone, the way Frappe stores Datetime fields."""
	return from_ts(now_ts())


def to_ts(value: datetime) -> float:
	"""Unix time of a datetime: naive values are in the system zone, aware ones carry their own."""
	if value.tzinfo is None:
		value = value.replace(tzinfo=system_timezone())
	return value.timestamp()


def from_ts(ts: float) -> datetime:
	"""Naive system-zone datetime for a Unix time (what goes into a Datetime column)."""
	return datetime.fromtimestamp(ts, tz=timezone.utc).astimezone(system_timezone()).replace(tzinfo=None)
