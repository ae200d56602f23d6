# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Request tracing on a site: every endpoint call is timed as `api.<module>.<function>`, refusals
and bad input are counted by error type, and a client's X-Correlation-ID follows a review submission
into the persistence job it queues."""

from contextlib import contextmanager

import frappe
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from memora import runtime
from memora.api import memory, persistence, reviews
from memora.api.response_headers import CORRELATION_HEADER as HEADER
from memora.services import metrics, metrics_report, rate_limits
from memora.services.srs import persistence as persistence_service
from memora.tests.utils import CommittedSeasonTestCase

ADMIN = "memora-tracing-admin@example.com"
PLAYER = "memora-tracing-player@example.com"
SEASON = "Test Tracing API"
QUESTION = "q-tracing-api-1"
CLIENT_IP = "192.0.2.61"
SUBMIT = "memora.api.reviews.submit_review_session"


def operation(name: str) -> dict:
	"""The figures of endpoint `name` ("<module>.<function>") so far."""
	return metrics_report.snapshot()["operations"].get(f"api.{name}", {"calls": 0, "errors_by_type": {}})


def answer() -> list[dict]:
	return [{"question_id": QUESTION, "is_correct": True, "duration_ms": 3000}]


@contextmanager
def http_request(method: str, cmd: str, headers: dict):
	"""The endpoint runs as in an HTTP request: method, headers, client IP and command."""
	frappe.local.request = Request(EnvironBuilder(method=method, headers=headers).get_environ())
	frappe.local.request_ip = CLIENT_IP
	frappe.local.form_dict = frappe._dict(cmd=cmd)
	try:
		yield
	finally:
		rate_limits.forget(PLAYER)
		if hasattr(frappe.local, "memora_headers"):
			del frappe.local.memora_headers
		frappe.local.request = None
		frappe.local.form_dict = frappe._dict()


class TestAPITracing(CommittedSeasonTestCase):
	USERS = ((ADMIN, "Memora Admin"), (PLAYER, "Memora Player"))
	SEASON = SEASON
	PLAYERS = (PLAYER,)

	def setUp(self):
		super().setUp()
		self.jobs: list[str] = []
		self.reset_trackers()
		self.add_due_tracker(PLAYER, QUESTION)

	def tearDown(self):
		for job_id in self.jobs:
			runtime.delete_job(job_id)
		super().tearDown()

	def test_each_call_is_timed_under_its_endpoint(self):
		frappe.set_user(ADMIN)
		calls = {
			"persistence.get_failed_batches": lambda: persistence.get_failed_batches(),
			"memory.get_engagement_score": lambda: memory.get_engagement_score(
				"tracing-fan", "tracing-creator"
			),
			"reviews.get_review_session": lambda: reviews.get_review_session(season=SEASON, player=PLAYER),
		}
		for name, call in calls.items():
			with self.subTest(endpoint=name):
				before = operation(name)["calls"]
				call()
				self.assertEqual(operation(name)["calls"], before + 1)

	def test_refusals_and_bad_input_are_counted_by_type(self):
		frappe.set_user(PLAYER)
		refused = operation("persistence.get_failed_batches")["errors_by_type"].get("PermissionError", 0)
		with self.assertRaises(frappe.PermissionError):
			persistence.get_failed_batches()
		self.assertEqual(
			operation("persistence.get_failed_batches")["errors_by_type"].get("PermissionError"), refused + 1
		)
		invalid = operation("reviews.get_review_session")["errors_by_type"].get(metrics.VALIDATION_ERROR, 0)
		with self.assertRaises(frappe.ValidationError):
			reviews.get_review_session(season="bad'; drop table x")
		self.assertEqual(
			operation("reviews.get_review_session")["errors_by_type"].get(metrics.VALIDATION_ERROR),
			invalid + 1,
		)

	def test_the_clients_correlation_id_reaches_the_persistence_job(self):
		frappe.set_user(PLAYER)
		with http_request("POST", SUBMIT, {HEADER: "client-trace-0001"}):
			job_id = reviews.submit_review_session(season=SEASON, responses=answer())["persistence_job_id"]
		self.jobs.append(job_id)
		self.assertEqual(
			persistence_service.get_persistence_status(job_id)["correlation_id"], "client-trace-0001"
		)

	def test_an_unusable_header_gets_a_fresh_id_per_call(self):
		frappe.set_user(PLAYER)
		ids = []
		for _ in range(2):
			with http_request("POST", SUBMIT, {HEADER: "no spaces; allowed"}):
				job_id = reviews.submit_review_session(season=SEASON, responses=answer())[
					"persistence_job_id"
				]
			self.jobs.append(job_id)
			ids.append(persistence_service.get_persistence_status(job_id)["correlation_id"])
		self.assertNotIn("no spaces; allowed", ids)
		self.assertNotEqual(ids[0], ids[1])
