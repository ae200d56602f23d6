# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""The operations endpoints on a site: admin-only refusals, the Prometheus token, and admin alerts."""

from contextlib import contextmanager

import frappe
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from memora import runtime
from memora.api import ops
from memora.tests.utils import MemoraTestCase

ADMIN = "memora-ops-admin@example.com"
SERVICE = "memora-ops-service@example.com"
PLAYER = "memora-ops-player@example.com"
TOKEN = "a-long-random-scrape-token-0123456789"


@contextmanager
def request_headers(headers: dict):
	"""A request carrying `headers`, as the endpoint would see it over HTTP."""
	previous = getattr(frappe.local, "request", None)
	frappe.local.request = Request(EnvironBuilder(method="GET", headers=headers).get_environ())
	try:
		yield
	finally:
		frappe.local.request = previous


@contextmanager
def metrics_token(value: str | None):
	previous = frappe.conf.get(ops.TOKEN_CONFIG_KEY)
	frappe.conf[ops.TOKEN_CONFIG_KEY] = value
	try:
		yield
	finally:
		frappe.conf[ops.TOKEN_CONFIG_KEY] = previous


class TestOpsAPI(MemoraTestCase):
	USERS = ((ADMIN, "Memora Admin"), (SERVICE, "Memora Service"), (PLAYER, "Memora Player"))

	def test_admin_endpoints_refuse_players_and_services(self):
		for user in (PLAYER, SERVICE):
			frappe.set_user(user)
			with self.assertRaises(frappe.PermissionError):
				ops.reconcile(player=PLAYER, season="S1")
			with self.assertRaises(frappe.PermissionError):
				ops.reconcile()
			with self.assertRaises(frappe.PermissionError):
				ops.last_reconciliation()
			with self.assertRaises(frappe.PermissionError):
				ops.metrics_snapshot()

	def test_admin_gets_the_snapshot_and_clear_validation_errors(self):
		frappe.set_user(ADMIN)
		self.assertIn("operations", ops.metrics_snapshot())
		with self.assertRaises(frappe.ValidationError):
			ops.reconcile(player=PLAYER, season="No Such Season")
		with self.assertRaises(frappe.ValidationError):
			ops.reconcile(player=PLAYER)
		with self.assertRaises(frappe.ValidationError):
			ops.last_reconciliation(season="bad'; --")

	def test_prometheus_refuses_guests_without_the_token(self):
		frappe.set_user("Guest")
		with metrics_token(TOKEN):
			with request_headers({}), self.assertRaises(frappe.PermissionError):
				ops.prometheus()
			with request_headers({ops.TOKEN_HEADER: TOKEN[:-1]}), self.assertRaises(frappe.PermissionError):
				ops.prometheus()
		with metrics_token(None), request_headers({ops.TOKEN_HEADER: ""}):
			with self.assertRaises(frappe.PermissionError):
				ops.prometheus()

	def test_prometheus_answers_the_token_and_admins(self):
		frappe.set_user("Guest")
		with metrics_token(TOKEN), request_headers({ops.TOKEN_HEADER: TOKEN}):
			response = ops.prometheus()
		self.assertEqual(response.status_code, 200)
		self.assertTrue(response.content_type.startswith("text/plain; version=0.0.4"))
		self.assertIn("# TYPE memora_operation_duration_seconds histogram", response.get_data(as_text=True))
		frappe.set_user(ADMIN)
		with metrics_token(None), request_headers({}):
			self.assertEqual(ops.prometheus().status_code, 200)

	def test_alert_reaches_every_admin_and_the_error_log(self):
		subject = f"Memora test alert {frappe.generate_hash(length=8)}"
		runtime.alert(subject, "Discrepancy above threshold", "Memora Settings", "Memora Settings")
		recipients = frappe.get_all(
			"Notification Log", filters={"subject": subject, "type": "Alert"}, pluck="for_user"
		)
		self.assertIn(ADMIN, recipients)
		self.assertIn("Administrator", recipients)
		self.assertNotIn(PLAYER, recipients)
		self.assertNotIn(SERVICE, recipients)
		self.assertTrue(frappe.db.exists("Error Log", {"method": subject}))
