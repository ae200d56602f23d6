"""A job `enqueue` made, as Memora sees it: what it runs, where it stands and how its last run ended.

Services read jobs through this view and never touch RQ's own objects, whose shape (and whether a
site prefixes its ids) is this package's business.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from memora.runtime.jobs.queue import JOB_RUNNER, public_id, queue_connection, rq_id
from memora.runtime.site import frappe_module, in_site

HORSE_KILLED = "Work-horse terminated unexpectedly"
COLD_SHUTDOWN = "SystemExit"  # what ends a job under a worker that runs it in-process and is shut down cold
REDELIVERIES = "memora_redeliveries"


def call_of(rq_job: Any) -> dict:
	"""`execute_job`'s arguments (target, target_kwargs, correlation_id) of a job `enqueue` made for this
	site or database; empty for any other job."""
	kwargs = rq_job.kwargs or {}
	if in_site():
		if kwargs.get("site") != frappe_module().local.site or kwargs.get("method") != JOB_RUNNER:
			return {}
		return kwargs.get("kwargs") or {}
	return kwargs if rq_job.func_name == JOB_RUNNER else {}


def _utc(value: datetime | None) -> datetime | None:
	"""RQ keeps naive UTC datetimes."""
	return None if value is None else value.replace(tzinfo=timezone.utc)


class Job:
	"""One of Memora's jobs. `status` is what RQ said when the job was read; read it again for news."""

	def __init__(self, rq_job: Any, call: dict) -> None:
		self.rq_job = rq_job
		self.id = public_id(rq_job.id)
		self.target: str = call.get("target", "")
		self.kwargs: dict = call.get("target_kwargs") or {}
		self.correlation_id: str | None = call.get("correlation_id")

	@property
	def status(self) -> str:
		"""queued, started, finished, failed, deferred, scheduled, stopped or canceled."""
		status = self.rq_job.get_status(refresh=False)
		return getattr(status, "value", status)

	@property
	def enqueued_at(self) -> datetime | None:
		return _utc(self.rq_job.enqueued_at)

	@property
	def started_at(self) -> datetime | None:
		return _utc(self.rq_job.started_at)

	@property
	def ended_at(self) -> datetime | None:
		return _utc(self.rq_job.ended_at)

	@property
	def redeliveries(self) -> int:
		"""How often recovery has put this job back on its queue."""
		return int(self.rq_job.meta.get(REDELIVERIES, 0))

	def has_flag(self, name: str) -> bool:
		return bool(self.rq_job.meta.get(name))

	@cached_property
	def _latest(self) -> Any:
		return self.rq_job.latest_result()

	@property
	def result(self) -> Any:
		"""What the target returned, once a run succeeded."""
		from rq.results import Result

		latest = self._latest
		return latest.return_value if latest is not None and latest.type == Result.Type.SUCCESSFUL else None

	@property
	def error(self) -> str | None:
		"""The last line of the latest failed run's traceback."""
		from rq.results import Result

		latest = self._latest
		if latest is None or latest.type == Result.Type.SUCCESSFUL:
			return None
		lines = (latest.exc_string or "").strip().splitlines()
		return lines[-1] if lines else None

	@property
	def died_with_worker(self) -> bool:
		"""A failed job that did not fail by itself: RQ's clean-up moved it (no failure result of its own),
		its work horse was killed, or a worker running it in-process was shut down cold (RQ ends the job
		with SystemExit). Doubtful cases count as real failures, which stay for a replay."""
		from rq.results import Result

		latest = self._latest
		if latest is None or latest.type != Result.Type.FAILED:
			return True
		trace = (latest.exc_string or "").strip()
		last_line = trace.rpartition("\n")[2]
		return HORSE_KILLED in trace or last_line.split(":")[0] == COLD_SHUTDOWN


def wrap(rq_jobs: list[Any]) -> list[Job]:
	"""The views of those RQ jobs (None for a missing one) that `enqueue` made for this site."""
	views = []
	for rq_job in rq_jobs:
		call = call_of(rq_job) if rq_job is not None else {}
		if call:
			views.append(Job(rq_job, call))
	return views


def fetch_many(rq_ids: list[str], connection: Any = None) -> list[Any]:
	"""RQ's jobs by RQ's ids, None for those it no longer has, including one deleted while a worker
	was taking it (the worker's status fields are then all that is left of it, which RQ cannot read)."""
	from rq.exceptions import NoSuchJobError
	from rq.job import Job as RQJob

	connection = connection or queue_connection()
	try:
		return RQJob.fetch_many(rq_ids, connection=connection)
	except NoSuchJobError:
		return [_fetch_one(rq_id, connection) for rq_id in rq_ids]


def _fetch_one(rq_id: str, connection: Any) -> Any:
	from rq.exceptions import NoSuchJobError
	from rq.job import Job as RQJob

	try:
		return RQJob.fetch(rq_id, connection=connection)
	except NoSuchJobError:
		return None


def fetch_job(job_id: str) -> Job | None:
	"""The job for an id given to `enqueue`, or None once RQ has forgotten it."""
	found = wrap(fetch_many([rq_id(job_id)]))
	return found[0] if found else None


def delete_job(job_id: str) -> None:
	"""Forget the job for an id given to `enqueue` (its registries too), if there is one."""
	job = fetch_job(job_id)
	if job is not None:
		job.rq_job.delete()


def set_flag(job: Job, name: str) -> None:
	"""Remember a fact about a job on the job itself (RQ's meta), for later readers."""
	job.rq_job.meta[name] = True
	job.rq_job.save_meta()
