# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""The persistence endpoints on a site: admin-only refusals, validation errors, status and replay."""

import frappe

from memora.api import persistence
from memora.services.srs import persistence as persistence_service
from memora.tests.cards import card
from memora.tests.utils import MemoraTestCase

ADMIN = "memora-persist-admin@example.com"
SERVICE = "memora-persist-service@example.com"
PLAYER = "memora-persist-player@example.com"
SEASON = "Persistence Test Season"


class TestPersistenceAPI(MemoraTestCase):
	USERS = ((ADMIN, "Memora Admin"), (SERVICE, "Memora Service"), (PLAYER, "Memora Player"))

	def tearDown(self):
		super().tearDown()
		frappe.db.delete("Player Memory Tracker", {"player": PLAYER})
		frappe.db.commit()

	def test_players_and_services_are_refused(self):
		for user in (PLAYER, SERVICE):
			frappe.set_user(user)
			with self.assertRaises(frappe.PermissionError):
				persistence.get_persistence_status("memora-persist-anything")
			with self.assertRaises(frappe.PermissionError):
				persistence.get_failed_batches()
			with self.assertRaises(frappe.PermissionError):
				persistence.replay_failed()

	def test_bad_input_is_a_validation_error(self):
		frappe.set_user(ADMIN)
		with self.assertRaises(frappe.ValidationError):
			persistence.get_persistence_status("")
		with self.assertRaises(frappe.ValidationError):
			persistence.get_failed_batches(limit=0)
		with self.assertRaises(frappe.ValidationError):
			persistence.replay_failed(job_ids='{"not": "a list"}')

	def test_admin_sees_a_written_batch_and_replays_nothing_unknown(self):
		frappe.set_user(ADMIN)
		# A review id of this run's own: the idempotency window of an earlier run's batch (kept by
		# Redis across cache clears) would skip the write.
		review_id = f"api-r1-{frappe.generate_hash(length=8)}"
		outcome = persistence_service.persist_review_batch(
			[card("q1", review_id, frappe.utils.now_datetime().timestamp())], PLAYER, SEASON
		)
		self.assertTrue(outcome["success"])
		self.assertEqual(
			frappe.db.get_value(
				"Player Memory Tracker",
				{"player": PLAYER, "season": SEASON, "question_id": "q1"},
				"last_review_id",
			),
			review_id,
		)
		self.assertIsNone(persistence.get_persistence_status("memora-persist-unknown"))
		self.assertEqual(
			persistence.replay_failed(job_ids='["memora-persist-unknown"]'),
			{"replayed": [], "failed": [], "not_found": ["memora-persist-unknown"]},
		)
		self.assertIsInstance(persistence.get_failed_batches(), list)
