"""What Memora's Desk pages call: the Memora Season form's actions and the jobs they start, and the
workspace's number cards. Memora Admin / System Manager only.

The season actions are long (a partition split moves rows, a rebuild or an archive streams a whole
season), so each is enqueued on the long queue and answered with its job id; the form follows the job
with `job_status` and draws Frappe's realtime `progress` events as a bar.
"""

from __future__ import annotations

from typing import Any, TypedDict

import frappe

from memora import runtime
from memora.api.endpoint import endpoint
from memora.api.srs import ArchiveStatus
from memora.api.utils import ADMIN_ROLES
from memora.exceptions import ValidationError
from memora.services import validation
from memora.services.srs import archiver, overview, reconciliation_runs, seasons

# Action -> service function run in the background (archive and reconcile queue themselves).
BACKGROUND_TARGETS = {
	"create_partition": ("memora.services.srs.partitions.create_partition", "season"),
	"rebuild_cache": ("memora.services.srs.rebuild.rebuild_season_cache", "season_name"),
	"optimize": ("memora.services.srs.fitting.fit.optimize_season", "season"),
}
ACTIONS = (*BACKGROUND_TARGETS, "reconcile", "archive")
JOB_TIMEOUT = 3600


class ActionStarted(TypedDict):
	"""A season action queued in the background."""

	job_id: str
	season: str
	action: str


class JobStatus(TypedDict):
	"""Where a background job stands."""

	status: str
	result: Any
	error: str | None


class NumberCard(TypedDict):
	"""The value of a Custom number card and how Desk should format it."""

	value: float
	fieldtype: str


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def season_summary(season: str) -> ArchiveStatus:
	"""The season's archive status (live and archived rows, activity, partition), for the confirmation
	before an action."""
	return archiver.get_archive_status(season)


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def start_season_action(season: str, action: str) -> ActionStarted:
	"""Enqueue create_partition, rebuild_cache, reconcile or archive for a season. Refused at once:
	404 for an unknown season, 409 for an active season's archive, 417 for an unknown action. Answers
	{job_id, season, action}."""
	if action not in ACTIONS:
		raise ValidationError("action", f"must be one of {', '.join(ACTIONS)}")
	season = seasons.existing_season(season)
	if action == "archive":
		job_id = archiver.queue_archive(season)["job_id"]
	elif action == "reconcile":
		job_id = reconciliation_runs.queue_reconciliation(season)
	else:
		target, argument = BACKGROUND_TARGETS[action]
		job_id = f"memora-{action.replace('_', '-')}-{runtime.new_correlation_id()[:12]}"
		runtime.enqueue(target, queue="long", job_id=job_id, timeout=JOB_TIMEOUT, **{argument: season})
	return {"job_id": job_id, "season": season, "action": action}


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def job_status(job_id: str) -> JobStatus:
	"""Where a job started here stands: {status (queued, started, finished, failed or unknown once RQ
	has forgotten it), result (what the service returned), error (last line of the failure)}."""
	job = runtime.fetch_job(validation.identifier(job_id, "job_id"))
	if job is None:
		return {"status": "unknown", "result": None, "error": None}
	return {
		"status": job.status,
		"result": job.result if job.status == "finished" else None,
		"error": job.error if job.status == "failed" else None,
	}


# --- number cards: each answers {"value", "fieldtype"} as Frappe's Custom number card expects; the card
# widget calls its method with frappe.xcall, which POSTs, so the cards take POST as well as GET.


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
def active_season_trackers(filters: str | None = None) -> NumberCard:
	"""Trackers in the active season (InnoDB's estimate for its partition)."""
	season = seasons.active_season()
	return {"value": overview.season_trackers_estimate(season) if season else 0, "fieldtype": "Int"}


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
def items_due_now(filters: str | None = None) -> NumberCard:
	"""Cards due now in the active season, summed over its players' Redis queues."""
	season = seasons.active_season()
	return {"value": overview.season_cache_health(season)["due_now"] if season else 0, "fieldtype": "Int"}


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
def archived_records(filters: str | None = None) -> NumberCard:
	"""Rows in Archived Memory Tracker (InnoDB's estimate)."""
	return {"value": overview.archived_records_estimate(), "fieldtype": "Int"}


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
def reconciliation_discrepancy(filters: str | None = None) -> NumberCard:
	"""Percent of items the last full reconciliation found wrong (0 before the first run)."""
	return {"value": overview.last_discrepancy_rate() or 0, "fieldtype": "Percent"}


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
def persistence_lag(filters: str | None = None) -> NumberCard:
	"""95th percentile, in seconds, from an accepted review to its durable row."""
	p95_ms = overview.persistence_lag_p95_ms()
	return {"value": round((p95_ms or 0) / 1000, 3), "fieldtype": "Float"}


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
def redis_eviction(filters: str | None = None) -> str:
	"""Whether Memora's data Redis can evict the review queues and pending reviews, or has, in a few
	words: Safe, Can evict SRS data, Evicted N keys, Policy unknown, Redis did not answer. A plain string,
	which the number card widget shows as it is (a `value` that is not a number would break its
	formatting); `memora stats`, the metrics and `bench migrate` give the sentences."""
	return overview.redis_eviction()["headline"]
