"""Persistence as background jobs: queue a batch, run it (taking over the batches queued behind it),
and put back the jobs whose worker died."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import audit_log, metrics
from memora.services.srs import in_flight
from memora.services.srs.persistence.batch import JOB_ID_START, Batch, batch_of
from memora.services.srs.persistence.statement import STATEMENT_ROWS
from memora.services.srs.persistence.write import (
	OPERATION,
	PersistenceFailed,
	persist_batch,
	persist_together,
	result,
)

BATCH_OPERATION = "persistence.batch"  # a persistence job's run, in the metrics
JOB_TARGET = "memora.services.srs.persistence.jobs.run_batch_job"
# Every target a queued persistence job may name: jobs queued before the move to the srs package
# name the old module, which forwards here.
JOB_TARGETS = (JOB_TARGET, "memora.services.srs_persistence.run_batch_job")


# A job takes over at most this many batches queued behind it, and only while the whole stays within
# one statement's rows (assuming batches of its own size): a queue of review sessions is then written
# a statement at a time instead of a session at a time.
TAKE_JOBS = 49
TAKE_SCAN = 200  # queued jobs looked at, from the front


def run_batch_job(responses: list[dict], user: str, season: str) -> dict:
	"""Job target of `queue_review_batch`. The batches waiting behind this one on the queue are taken
	over and written in the same transaction (`write_with_queued`). A final failure fails the job as
	well, so it also stays in RQ's failed registry."""
	with metrics.timed(BATCH_OPERATION):
		batch = batch_of(responses, user, season)
		queued = take_queued_batches(batch)
		outcome = write_with_queued(batch, queued) if queued else persist_batch(batch)
		if not outcome["success"]:
			raise PersistenceFailed("; ".join(outcome["errors"]))
	return outcome


def take_queued_batches(batch: Batch) -> list[tuple[runtime.Job, Batch]]:
	"""Persistence jobs waiting behind this one, taken over from the queue, with their batches. A job
	whose batch does not validate goes back to the queue, to fail there on its own."""
	if not batch.states:
		return []
	room = min(TAKE_JOBS, STATEMENT_ROWS // len(batch.states) - 1)
	jobs = runtime.take_queued_jobs(runtime.settings().persistence_queue, JOB_ID_START, room, TAKE_SCAN)
	taken, unfit = [], []
	for job in jobs:
		queued = queued_batch(job)
		if queued is None:
			unfit.append(job)
		else:
			taken.append((job, queued))
	give_back(unfit)
	return taken


def queued_batch(job: runtime.Job) -> Batch | None:
	"""The batch a queued job would write; None if it is not a persistence job or its batch does not
	validate."""
	if job.target not in JOB_TARGETS:
		return None
	try:
		return batch_of(job.kwargs["responses"], job.kwargs["user"], job.kwargs["season"])
	except (ValidationError, KeyError):
		return None


def write_with_queued(batch: Batch, queued: list[tuple[runtime.Job, Batch]]) -> dict:
	"""Write `batch` and the queued batches in one transaction and finish their jobs. If that write
	fails, the jobs go back to the queue (each to be written by its own job, with its own retries)
	and `batch` is written alone."""
	try:
		persist_together([batch, *(queued_batch for _, queued_batch in queued)])
	except Exception as e:
		runtime.log("persist_together_failed", logging.WARNING, jobs=len(queued) + 1, error=str(e))
		give_back([job for job, _ in queued])
		return persist_batch(batch)
	metrics.incr("batches_taken_over", len(queued), operation=OPERATION)
	try:
		runtime.finish_jobs([(job, result(True, len(b.states), 0, [])) for job, b in queued])
	except RedisError as e:
		# Left "started": recovery redelivers them, and writing a batch again changes nothing.
		runtime.log("persist_jobs_not_finished", logging.WARNING, jobs=len(queued), error=str(e))
	return result(True, len(batch.states), 0, [])


def give_back(jobs: list[runtime.Job]) -> None:
	"""Return taken jobs to their queue; if Redis refuses, recovery redelivers them later."""
	try:
		runtime.return_jobs(jobs)
	except RedisError as e:
		runtime.log("persist_jobs_not_returned", logging.WARNING, jobs=len(jobs), error=str(e))


def queue_review_batch(states: list[dict], user: str, season: str) -> str:
	"""Queue the durable write of `states`; returns the job id. If the queue cannot take the job, the
	batch is written synchronously instead (committing the caller's transaction) and the same id is
	returned; PersistenceFailed only if that write fails too."""
	batch = batch_of(states, user, season)
	job_id = batch.job_id
	if not batch.states:
		return job_id
	in_flight.add(batch.user, batch.season, job_id)
	try:
		runtime.enqueue(
			JOB_TARGET,
			queue=runtime.settings().persistence_queue,
			job_id=job_id,
			responses=batch.states,
			user=batch.user,
			season=batch.season,
		)
	except Exception as e:
		if not runtime.is_queue_unavailable(e):
			raise
		runtime.log("persist_queue_unavailable", logging.WARNING, job_id=job_id, error=str(e))
		write_synchronously(batch, {"queue_error": str(e)})
	return job_id


def persist_safe_mode_batch(states: list[dict], user: str, season: str) -> str:
	"""Answers accepted while Redis was unreachable, written now (the call returns once they are
	durable), with the mark that re-syncs the player's queue when Redis is back. Returns the job id the
	batch would have had, for `get_persistence_status`."""
	batch = batch_of(states, user, season)
	if batch.states:
		write_synchronously(batch, {"safe_mode": True}, resync=True)
	return batch.job_id


def write_synchronously(batch: Batch, details: dict, resync: bool = False) -> None:
	"""A batch written now rather than by a job; an audit row records that it happened."""
	outcome = persist_batch(batch, resync=resync)
	if not outcome["success"]:
		raise PersistenceFailed("; ".join(outcome["errors"]))
	audit_log.write(
		[
			audit_log.entry(
				OPERATION,
				"Success",
				job_id=batch.job_id,
				attempt=1,
				player=batch.user,
				season=batch.season,
				row_count=len(batch.states),
				details={"mode": "synchronous", **details},
			)
		]
	)


GAVE_UP = "memora_gave_up"
# A job handed over this long ago that is on no queue and in no registry was lost by a dying worker: a
# live worker records a job started within milliseconds of taking it (and running a batch twice is safe).
STRANDED_AFTER = 10


def recover_abandoned_jobs() -> list[str]:
	"""Put persistence jobs whose worker died mid-run back on the queue, and those a dying worker took
	off the queue before RQ recorded them started (found through `in_flight`); returns their ids.

	Safe because applying a batch twice changes nothing. Bounded: a job whose worker died under it
	MAX_RETRIES times is left failed, with a Failed audit row, for an admin's replay. Standalone workers
	run this when they start and every minute after; in a site the scheduler runs it.
	"""
	settings = runtime.settings()
	requeued = []
	for job in runtime.abandoned_jobs(settings.persistence_queue):
		if job.target not in JOB_TARGETS or job.has_flag(GAVE_UP):
			continue
		if job.redeliveries >= settings.max_retries:
			give_up(job)
		elif runtime.requeue_job(job):
			requeued.append(job.id)
			runtime.log("persist_job_redelivered", job_id=job.id, redeliveries=job.redeliveries)
	stranded, gone = runtime.stranded_jobs(in_flight.handed_over_before(STRANDED_AFTER))
	in_flight.forget(gone)
	for job in stranded:
		runtime.push_back(job)
		requeued.append(job.id)
		runtime.log("persist_job_redelivered", job_id=job.id, stranded=True)
	return requeued


def give_up(job: runtime.Job) -> None:
	"""Record once that a batch keeps killing its workers, with the batch, so an admin can replay it."""
	kwargs = job.kwargs
	with runtime.correlation(job.correlation_id):
		failed = audit_log.entry(
			OPERATION,
			"Failed",
			job_id=job.id,
			attempt=job.redeliveries + 1,
			player=kwargs["user"],
			season=kwargs["season"],
			row_count=len(kwargs["responses"]),
			error=f"the worker died under this batch {job.redeliveries + 1} times",
			details={"responses": kwargs["responses"]},
		)
		if audit_log.write([failed]):
			runtime.set_flag(job, GAVE_UP)
