# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""The review endpoints on a site: a player touches only their own queue, staff may act for one,
guests are refused, writes are POST only, and errors come back as frappe.ValidationError (rate
limits: test_rest_clients.py)."""

import frappe

from memora.api import reviews
from memora.services.srs.queue import SRSRedisManager
from memora.tests.utils import CommittedSeasonTestCase, delete_season_trackers

PLAYER = "memora-reviews-player@example.com"
OTHER = "memora-reviews-other@example.com"
SERVICE = "memora-reviews-service@example.com"
SEASON = "Test Reviews API"
QUESTION = "q-reviews-api-1"


class TestReviewsAPI(CommittedSeasonTestCase):
	USERS = ((PLAYER, "Memora Player"), (OTHER, "Memora Player"), (SERVICE, "Memora Service"))
	SEASON = SEASON
	PLAYERS = (PLAYER, OTHER)

	def setUp(self):
		frappe.set_user("Administrator")
		delete_season_trackers(SEASON)
		self.add_due_tracker(PLAYER, QUESTION)
		SRSRedisManager().clear_user_cache(PLAYER, SEASON)

	def tearDown(self):
		super().tearDown()
		frappe.local.request = None

	def test_player_reads_own_session(self):
		frappe.set_user(PLAYER)
		session = reviews.get_review_session(season=SEASON)
		self.assertEqual(session["questions"], [QUESTION])
		self.assertEqual(session["due_count"], 1)

	def test_player_cannot_act_for_another_player(self):
		frappe.set_user(OTHER)
		with self.assertRaises(frappe.PermissionError):
			reviews.get_review_session(season=SEASON, player=PLAYER)
		with self.assertRaises(frappe.PermissionError):
			reviews.submit_review_session(
				season=SEASON,
				responses=[{"question_id": QUESTION, "is_correct": True, "duration_ms": 3000}],
				player=PLAYER,
			)
		self.assertEqual(reviews.get_review_session(season=SEASON)["questions"], [])

	def test_service_may_act_for_a_player(self):
		frappe.set_user(SERVICE)
		self.assertEqual(reviews.get_review_session(season=SEASON, player=PLAYER)["questions"], [QUESTION])

	def test_guest_is_refused(self):
		frappe.set_user("Guest")
		with self.assertRaises(frappe.PermissionError):
			reviews.get_review_session(season=SEASON)

	def test_submit_is_post_only_and_reading_allows_get(self):
		methods = frappe.allowed_http_methods_for_whitelisted_func
		self.assertEqual(list(methods[reviews.submit_review_session]), ["POST"])
		self.assertIn("GET", methods[reviews.get_review_session])
		self.assertNotIn(reviews.submit_review_session, frappe.guest_methods)

	def test_submit_applies_the_answer_at_once(self):
		frappe.set_user(PLAYER)
		result = reviews.submit_review_session(
			season=SEASON,
			responses=frappe.as_json([{"question_id": QUESTION, "is_correct": True, "duration_ms": 3000}]),
		)
		self.assertEqual(result["accepted"], 1)
		self.assertTrue(result["persistence_job_id"])
		self.assertEqual(reviews.get_review_session(season=SEASON)["questions"], [])

	def test_bad_input_is_a_validation_error(self):
		frappe.set_user(PLAYER)
		bad = (
			[{"question_id": QUESTION, "is_correct": "maybe", "duration_ms": 3000}],
			[{"question_id": "q-not-mine", "is_correct": True, "duration_ms": 3000}],
			"not json",
		)
		for responses in bad:
			with self.assertRaises(frappe.ValidationError):
				reviews.submit_review_session(season=SEASON, responses=responses)
		with self.assertRaises(frappe.ValidationError):
			reviews.get_review_session(season="bad'; drop table x")
