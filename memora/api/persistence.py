"""Review persistence for admins: where a batch is, which batches finally failed, and replaying them.

Players never call these: their submission returns at once and the write happens in the background
(docs/persistence.md). Every endpoint requires Memora Admin (or System Manager).
"""

from __future__ import annotations

import frappe

from memora.api.tracing import traced
from memora.api.utils import parse_json_arg, raise_as_frappe, require_admin
from memora.services.srs import persistence


@frappe.whitelist(methods=["GET"])
def get_persistence_status(job_id: str) -> dict | None:
	"""Status of a persistence job (the `persistence_job_id` a review submission returned): from the
	queue while it keeps the job, else from SRS Audit Log; null when neither knows the id."""
	with raise_as_frappe(), traced("persistence.get_persistence_status"):
		require_admin()
		return persistence.get_persistence_status(job_id)


@frappe.whitelist(methods=["GET"])
def get_failed_batches(limit: int = 100) -> list[dict]:
	"""Batches whose write failed after every retry and that were not replayed yet, oldest first."""
	with raise_as_frappe(), traced("persistence.get_failed_batches"):
		require_admin()
		return persistence.failed_batches(limit)


@frappe.whitelist(methods=["POST"])
def replay_failed(job_ids: list[str] | str | None = None, limit: int = 100) -> dict:
	"""Queue failed batches again: the given job ids (a list, or a JSON list in a form post), or the
	`limit` oldest outstanding ones. Safe to repeat: a batch that already landed changes nothing."""
	with raise_as_frappe(), traced("persistence.replay_failed"):
		require_admin()
		return persistence.replay_failed(parse_json_arg(job_ids, "job_ids", list), limit)
