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

import frappe
from frappe import _
from werkzeug.wrappers import Response

from memora.api.tracing import traced
from memora.api.utils import ADMIN_ROLES, has_any_role, raise_as_frappe, require_admin
from memora.services import metrics_report
from memora.services.srs import reconciliation, reconciliation_runs

TOKEN_HEADER = "X-Memora-Metrics-Token"
TOKEN_CONFIG_KEY = "memora_metrics_token"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@frappe.whitelist(methods=["POST"])
def reconcile(player: str | None = None, season: str | None = None) -> dict:
	"""Reconcile now: one player in one season (answered when done), or one season, or every active
	season (queued on the long queue; answers the job id)."""
	with raise_as_frappe(), traced("ops.reconcile") as cid:
		require_admin()
		if player:
			return reconciliation.reconcile_user_season(player, season)
		job_id = reconciliation_runs.queue_reconciliation(season or None)
	return {"job_id": job_id, "season": season or None, "correlation_id": cid}


@frappe.whitelist(methods=["GET"])
def last_reconciliation(season: str | None = None) -> dict | None:
	"""The last full run's summary, or one season's part of it; None before the first run."""
	with raise_as_frappe(), traced("ops.last_reconciliation"):
		require_admin()
		return reconciliation_runs.last_summary(season or None)


@frappe.whitelist(methods=["GET"])
def metrics_snapshot() -> dict:
	"""Every counter, with hit rate, avg/p95 per operation, error rates and the reconciliation figures."""
	with traced("ops.metrics_snapshot"):
		require_admin()
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
