"""Where a batch stands, the batches whose write finally failed, and their replay."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import audit_log, validation
from memora.services.srs.persistence.jobs import JOB_TARGETS, queue_review_batch
from memora.services.srs.persistence.write import OPERATION, PersistenceFailed
from memora.services.tables import AUDIT_LOG

# How an audit row reads as a job status, when the queue no longer has the job.
AUDIT_STATUS = {"Success": "finished", "Failed": "failed", "Retry": "started", "Replayed": "queued"}


def _iso(value: datetime | None) -> str | None:
	return None if value is None else value.isoformat()


def _stored_utc(value: datetime | None) -> str | None:
	"""A naive datetime from MariaDB (system time zone) as ISO 8601 UTC."""
	return None if value is None else datetime.fromtimestamp(runtime.to_ts(value), timezone.utc).isoformat()


def get_persistence_status(job_id: str) -> dict | None:
	"""Where a batch is: its RQ job while the queue keeps it (10 minutes after success, 7 days after a
	failure), else the last SRS Audit Log row for it (synchronous writes, retried or failed batches);
	None if neither knows the id."""
	job_id = validation.identifier(job_id, "job_id")
	try:
		job = runtime.fetch_job(job_id)
	except Exception as e:
		if not runtime.is_queue_unavailable(e):
			raise
		job = None
	if job is not None and job.target in JOB_TARGETS:
		return job_status(job)
	rows = audit_log.rows_for_job(job_id, OPERATION)
	return audit_status(job_id, rows[-1]) if rows else None


def job_status(job: runtime.Job) -> dict:
	kwargs = job.kwargs
	return {
		"job_id": job.id,
		"status": job.status,
		"source": "queue",
		"player": kwargs["user"],
		"season": kwargs["season"],
		"row_count": len(kwargs["responses"]),
		"correlation_id": job.correlation_id,
		"enqueued_at": _iso(job.enqueued_at),
		"started_at": _iso(job.started_at),
		"ended_at": _iso(job.ended_at),
		"redeliveries": job.redeliveries,
		"result": job.result,
		"error": job.error,
	}


def audit_status(job_id: str, row: dict) -> dict:
	return {
		"job_id": job_id,
		"status": AUDIT_STATUS.get(row["status"], row["status"].lower()),
		"source": "audit_log",
		"player": row["player"],
		"season": row["season"],
		"row_count": row["row_count"],
		"correlation_id": row["correlation_id"],
		"ended_at": _stored_utc(row["creation"]),
		"attempt": row["attempt"],
		"error": row["error"],
	}


LIST_MAX = 1000


def _unreplayed_failures(limit: int) -> list[dict]:
	"""Failed audit rows with no later Replayed or Success row for the same job, with their batch."""
	rows = runtime.db().sql(
		f"""select name, job_id, player, season, row_count, error, correlation_id, creation, details
		from {AUDIT_LOG} f
		where f.operation = %(operation)s and f.status = 'Failed' and not exists (
			select 1 from {AUDIT_LOG} r
			where r.job_id = f.job_id and r.operation = f.operation
				and r.status in ('Replayed', 'Success') and r.creation > f.creation)
		order by f.creation
		limit %(limit)s""",
		{"operation": OPERATION, "limit": limit},
		as_dict=True,
	)
	return [
		{
			"job_id": row["job_id"],
			"player": row["player"],
			"season": row["season"],
			"row_count": row["row_count"],
			"error": row["error"],
			"correlation_id": row["correlation_id"],
			"failed_at": _stored_utc(row["creation"]),
			"source": "audit_log",
			"responses": json.loads(row["details"] or "{}").get("responses"),
		}
		for row in rows
	]


def _failed_jobs() -> list[dict]:
	"""Persistence jobs in RQ's failed registry (their Failed row may be missing if the database was
	down when they gave up). Empty when the queue's Redis is unavailable."""
	try:
		jobs = runtime.failed_jobs(runtime.settings().persistence_queue)
	except Exception as e:
		if not runtime.is_queue_unavailable(e):
			raise
		runtime.log("persist_failed_jobs_unreadable", logging.WARNING, error=str(e))
		return []
	failures = []
	for job in jobs:
		if job.target not in JOB_TARGETS:
			continue
		kwargs = job.kwargs
		failures.append(
			{
				"job_id": job.id,
				"player": kwargs["user"],
				"season": kwargs["season"],
				"row_count": len(kwargs["responses"]),
				"error": job.error or "died with its worker",
				"correlation_id": job.correlation_id,
				"failed_at": _iso(job.ended_at or job.enqueued_at),
				"source": "queue",
				"responses": kwargs["responses"],
			}
		)
	return failures


def _outstanding(limit: int) -> list[dict]:
	failures = {f["job_id"]: f for f in _unreplayed_failures(limit)}
	for failure in _failed_jobs():
		failures.setdefault(failure["job_id"], failure)
	return sorted(failures.values(), key=lambda f: f["failed_at"] or "")[:limit]


def failed_batches(limit: int = 100) -> list[dict]:
	"""Batches whose write finally failed and that nobody replayed yet, oldest first (without the
	reviews themselves): from SRS Audit Log, and from RQ's failed registry for jobs the log missed."""
	limit = validation.integer(limit, "limit", minimum=1, maximum=LIST_MAX)
	return [{k: v for k, v in f.items() if k != "responses"} for f in _outstanding(limit)]


def replay_failed(job_ids: list[str] | None = None, limit: int = 100) -> dict:
	"""Queue failed batches again: the given job ids, or the `limit` oldest outstanding ones.

	Each replay is recorded (status Replayed, under the batch's original correlation id) before it is
	queued, so a replay that fails again shows up as a new failure. Replaying is safe even for a batch
	that did land meanwhile: it changes nothing. Returns the job ids replayed, those that failed again at
	once (queue down and the synchronous write failing too) with the error, and those not found.
	"""
	limit = validation.integer(limit, "limit", minimum=1, maximum=LIST_MAX)
	if job_ids is not None and not isinstance(job_ids, list | tuple):
		raise ValidationError("job_ids", "must be a list of job ids")
	wanted = (
		None
		if job_ids is None
		else [validation.identifier(j, f"job_ids[{i}]") for i, j in enumerate(job_ids)]
	)
	outstanding = {f["job_id"]: f for f in _outstanding(LIST_MAX if wanted else limit)}
	chosen = (
		list(outstanding.values()) if wanted is None else [outstanding[j] for j in wanted if j in outstanding]
	)
	replayed, failed = [], []
	for failure in chosen:
		try:
			replay(failure)
		except (PersistenceFailed, ValidationError) as e:
			failed.append({"job_id": failure["job_id"], "error": str(e)})
		else:
			replayed.append(failure["job_id"])
	return {
		"replayed": replayed,
		"failed": failed,
		"not_found": [j for j in wanted or [] if j not in outstanding],
	}


def replay(failure: dict) -> None:
	with runtime.correlation(failure["correlation_id"]):
		audit_log.write(
			[
				audit_log.entry(
					OPERATION,
					"Replayed",
					job_id=failure["job_id"],
					player=failure["player"],
					season=failure["season"],
					row_count=failure["row_count"],
					details={"source": failure["source"]},
				)
			]
		)
		try:
			runtime.delete_job(failure["job_id"])
		except Exception as e:
			if not runtime.is_queue_unavailable(e):
				raise
		queue_review_batch(failure["responses"], failure["player"], failure["season"])
