"""Operations: reconcile now, the last reconciliation, and the metrics, for admins and for Prometheus.

Every endpoint is for Memora Admin / System Manager except `prometheus`, which is whitelisted for
guests so a scraper needs no session, and answers only
- a request authenticated as an admin (a session, or `Authorization: token <api_key>:<api_secret>` of
  an admin user), or
- a request whose `X-Memora-Metrics-Token` header equals the site config key `memora_metrics_token`
  (compared in constant time). Without that key in site_config.json only admins may scrape.
A foreign `Authorization: Bearer` header cannot carry the token: Frappe treats it as OAuth and refuses
the request before any endpoint runs.
"""

from __future__ import annotations

import hmac
from typing import NotRequired, TypedDict

import frappe
from frappe import _
from werkzeug.wrappers import Response

from memora import runtime
from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES, has_any_role
from memora.services import metrics_report, validation
from memora.services.srs import reconciliation, reconciliation_runs

TOKEN_HEADER = "X-Memora-Metrics-Token"
TOKEN_CONFIG_KEY = "memora_metrics_token"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Tally(TypedDict):
	"""What a reconciliation checked and corrected; `corrections` counts items by kind (missing, ghost,
	stale)."""

	players_checked: int
	items_checked: int
	corrections: dict[str, int]
	discrepancies: int
	discrepancy_rate: float
	keys_rebuilt: int
	keys_restored: int


class Reconciled(Tally):
	"""One player's reconciliation, done."""

	user: str
	season: str
	duration_s: float
	correlation_id: str


class ReconciliationSummary(Tally):
	"""The last full run (with its `seasons`, each a Tally), or one season's part of it."""

	correlation_id: str
	finished_at: str
	status: NotRequired[str]
	duration_s: NotRequired[float]
	started_at: NotRequired[str]
	alert_threshold: NotRequired[float]
	alerted_seasons: NotRequired[list[str]]
	seasons: NotRequired[dict[str, Tally]]
	audit_log: NotRequired[str]


class ReconciliationQueued(TypedDict):
	"""A reconciliation run queued on the long queue (of `season`, or of every active season)."""

	job_id: str
	season: str | None
	correlation_id: str


class MetricsSnapshot(TypedDict):
	"""The process-wide metrics since `since` (Unix time): per operation calls, errors, avg and p95;
	cache hit rates; errors by type; the reconciliation figures; and every raw counter and gauge."""

	since: float | None
	generated_at: float
	operations: dict[str, dict]
	cache: dict[str, dict]
	cache_hit_rate: float | None
	error_rate: float | None
	errors_by_type: dict[str, int]
	retries: int
	timeouts: int
	safe_mode_activations: int
	reconciliation: dict
	persistence_lag: dict | None
	counters: dict[str, dict]
	gauges: dict[str, list]


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def reconcile(player: str | None = None, season: str | None = None) -> Reconciled | ReconciliationQueued:
	"""Reconcile now: one player in one season (answered when done), or one season, or every active
	season (queued on the long queue; answers the job id)."""
	if player:
		return reconciliation.reconcile_user_season(validation.identifier(player, "player"), season)
	job_id = reconciliation_runs.queue_reconciliation(season or None)
	return {"job_id": job_id, "season": season or None, "correlation_id": runtime.correlation_id()}


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def last_reconciliation(season: str | None = None) -> ReconciliationSummary | None:
	"""The last full run's summary, or one season's part of it; None before the first run."""
	return reconciliation_runs.last_summary(season or None)


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def metrics_snapshot() -> MetricsSnapshot:
	"""Every counter, with hit rate, avg/p95 per operation, error rates and the reconciliation figures."""
	return metrics_report.snapshot()


@frappe.whitelist(allow_guest=True, methods=["GET"])
def prometheus() -> Response:
	"""The metrics in Prometheus' text format, for an admin or a scraper holding the metrics token."""
	if not scrape_allowed():
		frappe.throw(_("Metrics need an admin login or the metrics token."), frappe.PermissionError)
	return Response(metrics_report.prometheus_text(), content_type=PROMETHEUS_CONTENT_TYPE)


def scrape_allowed() -> bool:
	user = frappe.session.user
	if user == "Administrator" or (user != "Guest" and has_any_role(ADMIN_ROLES)):
		return True
	expected = str(frappe.conf.get(TOKEN_CONFIG_KEY) or "")
	given = frappe.get_request_header(TOKEN_HEADER) or ""
	return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
