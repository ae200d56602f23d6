"""Background jobs: enqueue a call, run it in a worker, and the queues' Redis.

Inside a site jobs go through `frappe.enqueue` to the site's redis_queue and Frappe's workers; outside,
through RQ to MEMORA_QUEUE_URL (or the data Redis) and `memora worker`. Either way a job runs
`execute_job`, which restores the caller's correlation id and commits or rolls back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

import redis

from memora.exceptions import MemoraError
from memora.runtime.database import database_name, db
from memora.runtime.kv import cached_client, is_cluster
from memora.runtime.logs import correlation, correlation_id, new_correlation_id
from memora.runtime.site import frappe_module, in_site, owner

# The dotted path every job runs, stored in each queued job: it must keep resolving (the package
# re-exports it) for as long as jobs queued under it may exist.
JOB_RUNNER = "memora.runtime.execute_job"
# Frappe's standard queues; the standalone worker serves the same names.
QUEUES = ("short", "default", "long")


def queue_connection() -> redis.Redis:
	"""The Redis that RQ uses: the site's redis_queue in a bench, MEMORA_QUEUE_URL (or the data Redis) outside."""
	if in_site():
		from frappe.utils.background_jobs import get_redis_conn

		return get_redis_conn()
	client = cached_client(queue_url(), 5000, False)
	if is_cluster(client):
		raise QueueIsCluster(
			f"The job queue's Redis ({queue_url()}) is a Redis Cluster node, and RQ needs a plain Redis: "
			"set MEMORA_QUEUE_URL to one."
		)
	return client


class QueueIsCluster(MemoraError):
	"""RQ keeps a job in several keys it cannot tag into one slot: it does not run on Redis Cluster."""


def queue_url() -> str:
	"""Standalone only: MEMORA_QUEUE_URL, else the data Redis."""
	return os.environ.get("MEMORA_QUEUE_URL") or os.environ.get(
		"MEMORA_REDIS_URL", "redis://127.0.0.1:6379/0"
	)


def queue_side_key(*parts: str) -> str:
	"""A key of Memora's in the queue's Redis, beside the jobs (which a cache clear does not touch),
	namespaced by site or database like the jobs themselves."""
	return ":".join(("memora", owner(), *parts))


def queue_name(queue: str, database: str | None = None) -> str:
	"""Standalone RQ queue name; namespaced by database so parallel test runs never share a queue."""
	return f"memora:{database or database_name()}:{queue}"


def rq_queue(queue: str):
	"""The RQ queue that `enqueue(queue=...)` uses."""
	if in_site():
		from frappe.utils.background_jobs import get_queue

		return get_queue(queue)
	from rq import Queue

	return Queue(queue_name(queue), connection=queue_connection())


def enqueue(
	method: str, queue: str = "default", job_id: str | None = None, timeout: int = 300, **kwargs: Any
) -> str:
	"""Run `method(**kwargs)` in a worker; the current correlation id travels with the job. Returns the
	job's id (the one given, or one RQ made up)."""
	# `frappe.enqueue` owns the names method/queue/timeout/job_id, so the target travels as `target`.
	job_kwargs = {"target": method, "target_kwargs": kwargs, "correlation_id": correlation_id()}
	if in_site():
		job = frappe_module().enqueue(JOB_RUNNER, queue=queue, job_id=job_id, timeout=timeout, **job_kwargs)
		return public_id(job.id)
	job = rq_queue(queue).enqueue_call(
		JOB_RUNNER,
		kwargs=job_kwargs,
		job_id=job_id,
		timeout=timeout,
		result_ttl=600,
		failure_ttl=7 * 24 * 3600,
	)
	return job.id


def rq_id(job_id: str) -> str:
	"""RQ's id of a job `enqueue` was given `job_id` for (Frappe prefixes it with the site)."""
	return f"{owner()}::{job_id}" if in_site() else job_id


def public_id(rq_job_id: str) -> str:
	"""The id the caller gave `enqueue`, from RQ's."""
	return rq_job_id.removeprefix(f"{owner()}::") if in_site() else rq_job_id


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


_job_end_callbacks: list[Callable[[], None]] = []


def execute_job(target: str, target_kwargs: dict, correlation_id: str | None = None) -> Any:
	"""Worker-side entry point: restore the correlation id, run the target, commit or roll back."""
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


def on_job_end(callback: Callable[[], None]) -> None:
	"""Run `callback` when each job ends: an RQ work horse exits without running atexit handlers, so
	anything buffered in the process (metrics) must be sent here."""
	if callback not in _job_end_callbacks:
		_job_end_callbacks.append(callback)


def is_queue_unavailable(exc: BaseException) -> bool:
	"""The queue could not take a job: its Redis is down or slow (Frappe 15 refuses no job for the
	queue's length)."""
	return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)
