"""Review persistence for admins: where a batch is, which batches finally failed, and replaying them.

Players never call these: their submission returns at once and the write happens in the background
(docs/persistence.md). Every endpoint requires Memora Admin (or System Manager).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import frappe

from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES, parse_json_arg
from memora.services.srs import persistence


class PersistenceStatus(TypedDict):
	"""Where a batch stands: from the queue (`source` "queue", with enqueued_at, started_at,
	redeliveries and result) while RQ keeps the job, else from SRS Audit Log ("audit_log", with
	attempt)."""

	job_id: str
	status: str
	source: str
	player: str | None
	season: str | None
	row_count: int | None
	correlation_id: str | None
	enqueued_at: NotRequired[str | None]
	started_at: NotRequired[str | None]
	ended_at: str | None
	redeliveries: NotRequired[int]
	attempt: NotRequired[int | None]
	result: NotRequired[Any]
	error: str | None


class FailedBatch(TypedDict):
	"""A batch whose write failed after every retry and was not replayed yet."""

	job_id: str
	player: str | None
	season: str | None
	row_count: int | None
	error: str | None
	correlation_id: str | None
	failed_at: str | None
	source: str


class ReplayFailure(TypedDict):
	job_id: str
	error: str


class Replayed(TypedDict):
	"""Job ids queued again, those that could not be, and asked-for ids that are not outstanding."""

	replayed: list[str]
	failed: list[ReplayFailure]
	not_found: list[str]


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def get_persistence_status(job_id: str) -> PersistenceStatus | None:
	"""Status of a persistence job (the `persistence_job_id` a review submission returned): from the
	queue while it keeps the job, else from SRS Audit Log; null when neither knows the id."""
	return persistence.get_persistence_status(job_id)


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def get_failed_batches(limit: int = 100) -> list[FailedBatch]:
	"""Batches whose write failed after every retry and that were not replayed yet, oldest first."""
	return persistence.failed_batches(limit)


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def replay_failed(job_ids: list[str] | str | None = None, limit: int = 100) -> Replayed:
	"""Queue failed batches again: the given job ids (a list, or a JSON list in a form post), or the
	`limit` oldest outstanding ones. Safe to repeat: a batch that already landed changes nothing."""
	return persistence.replay_failed(parse_json_arg(job_ids, "job_ids", list), limit)
