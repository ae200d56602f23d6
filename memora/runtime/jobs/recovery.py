"""Jobs whose worker died under them, found and put back on their queue.

RQ 1.15 never redelivers a job whose worker was killed: its clean-up (on a worker's start and every
10 minutes) moves a "started" job whose heartbeat expired to the failed registry. These let a service
find such jobs of its own sooner and put them back.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from memora.runtime.jobs.queue import queue_connection, rq_id, rq_queue
from memora.runtime.jobs.record import REDELIVERIES, Job, fetch_many, wrap

WORKER_KEY_PREFIX = "rq:worker:"


def _text(value: Any) -> str | None:
	return value.decode() if isinstance(value, bytes) else value


def worker_is_gone(connection: Any, worker_name: str | None) -> bool:
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


def abandoned_jobs(queue: str) -> list[Job]:
	"""Jobs of this site on `queue` whose worker died under them: "started" jobs whose heartbeat expired
	or whose worker is gone, and failed jobs that died with their worker."""
	queue_ = rq_queue(queue)
	connection = queue_.connection
	now = time.time()
	started = connection.zrange(queue_.started_job_registry.key, 0, -1, withscores=True)
	failed = queue_.failed_job_registry.get_job_ids()
	found = fetch_many([_text(i) for i, _ in started] + failed, connection)
	expired = {_text(i) for i, score in started if score < now}
	abandoned = [
		job
		for job in wrap(found[: len(started)])
		if job.rq_job.id in expired or worker_is_gone(connection, job.rq_job.worker_name)
	]
	return abandoned + [job for job in wrap(found[len(started) :]) if job.died_with_worker]


def failed_jobs(queue: str) -> list[Job]:
	"""Jobs of this site on `queue` in RQ's failed registry."""
	queue_ = rq_queue(queue)
	return wrap(fetch_many(queue_.failed_job_registry.get_job_ids(), queue_.connection))


def stranded_jobs(job_ids: list[str]) -> tuple[list[Job], list[str]]:
	"""Of jobs `enqueue` made (by the ids it was given): those marked queued that are on no queue, and
	the ids of those that no longer exist or have finished.

	RQ 1.15 takes a job off its queue (BLPOP) and only then records it started: a worker killed in
	between leaves the job queued, on no queue and in no registry, and nothing would ever run it."""
	from rq import Queue
	from rq.job import JobStatus

	connection = queue_connection()
	found = fetch_many([rq_id(job_id) for job_id in job_ids], connection)
	stranded, gone = [], []
	for job_id, rq_job in zip(job_ids, found, strict=True):
		status = rq_job.get_status(refresh=False) if rq_job else None
		if status in (None, JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.STOPPED):
			gone.append(job_id)
		elif (
			status == JobStatus.QUEUED
			and connection.lpos(Queue(rq_job.origin, connection=connection).key, rq_job.id) is None
		):
			stranded += wrap([rq_job])
	return stranded, gone


def push_back(job: Job) -> None:
	"""Put a stranded job back on its queue (see `stranded_jobs`)."""
	from rq import Queue

	Queue(job.rq_job.origin, connection=queue_connection()).push_job_id(job.rq_job.id)


def requeue_job(job: Job) -> bool:
	"""Put a started-but-abandoned or failed job back on its queue, counting the redelivery. Removing it
	from its registry is the claim: False if another process requeued it first."""
	from rq.exceptions import InvalidJobOperation
	from rq.job import JobStatus

	rq_job = job.rq_job
	started = rq_job.get_status(refresh=False) == JobStatus.STARTED
	registry = rq_job.started_job_registry if started else rq_job.failed_job_registry
	rq_job.meta[REDELIVERIES] = job.redeliveries + 1
	try:
		registry.requeue(rq_job)  # saves the job, meta included
	except InvalidJobOperation:
		return False
	return True
