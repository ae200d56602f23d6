# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe

from memora.api import memory
from memora.tests.utils import MemoraTestCase

FAN, CREATOR = "test-api-fan", "test-api-creator"


def every_endpoint():
	"""One call of each endpoint, as a client would make it."""
	return {
		"get_memory_context": lambda: memory.get_memory_context(FAN, CREATOR),
		"get_memories_for_fans": lambda: memory.get_memories_for_fans(f'["{FAN}"]', CREATOR),
		"get_engagement_score": lambda: memory.get_engagement_score(FAN, CREATOR),
		"get_memory_stats": lambda: memory.get_memory_stats(CREATOR),
		"save_interaction": lambda: memory.save_interaction(FAN, CREATOR, "like"),
		"clear_memory": lambda: memory.clear_memory(FAN, CREATOR),
	}


def stored_interactions() -> int:
	return frappe.db.count("Interaction", {"fan_id": FAN, "creator_id": CREATOR})


class TestMemoryApi(MemoraTestCase):
	USERS = (
		("memora-api-service@example.com", "Memora Service"),
		("memora-api-admin@example.com", "Memora Admin"),
		("memora-api-player@example.com", "Memora Player"),
		("memora-api-nobody@example.com",),
	)

	def tearDown(self):
		super().tearDown()
		memory.clear_memory(FAN, CREATOR)

	def test_guests_players_and_other_users_are_refused(self):
		for user in ("Guest", "memora-api-player@example.com", "memora-api-nobody@example.com"):
			frappe.set_user(user)
			for name, call in every_endpoint().items():
				with self.subTest(user=user, endpoint=name):
					self.assertRaises(frappe.PermissionError, call)
		frappe.set_user("Administrator")
		self.assertEqual(stored_interactions(), 0)

	def test_service_user_reads_and_writes(self):
		frappe.set_user("memora-api-service@example.com")
		saved = memory.save_interaction(
			FAN, CREATOR, "message", content="Loved the new set, more please?", event_id="api-e1"
		)
		again = memory.save_interaction(
			FAN, CREATOR, "message", content="Loved the new set, more please?", event_id="api-e1"
		)
		self.assertFalse(saved["duplicate"])
		self.assertTrue(again["duplicate"])
		memory.save_interaction(FAN, CREATOR, "purchase", amount="19.99", metadata='{"category": "photos"}')

		context = memory.get_memory_context(FAN, CREATOR)
		self.assertEqual(context["engagement_metrics"]["message_count"], 1)
		self.assertEqual(context["engagement_metrics"]["purchase_count"], 1)
		self.assertEqual(context["preferences"]["purchases"][0]["name"], "photos")
		self.assertGreater(memory.get_engagement_score(FAN, CREATOR), 0.5)
		self.assertEqual(memory.get_memory_stats(CREATOR)["total_interactions"], 2)
		self.assertIn(FAN, memory.get_memories_for_fans([FAN, "test-api-unknown"], CREATOR))

		self.assertEqual(memory.clear_memory(FAN, CREATOR)["deleted"]["Interaction"], 2)
		self.assertEqual(stored_interactions(), 0)

	def test_admin_may_erase(self):
		frappe.set_user("memora-api-admin@example.com")
		memory.save_interaction(FAN, CREATOR, "view")
		memory.clear_memory(FAN, CREATOR)
		self.assertEqual(stored_interactions(), 0)

	def test_bad_input_names_the_field_and_writes_nothing(self):
		frappe.set_user("memora-api-service@example.com")
		cases = {
			"amount": lambda: memory.save_interaction(FAN, CREATOR, "purchase", amount=-5),
			"content": lambda: memory.save_interaction(FAN, CREATOR, "message"),
			"type": lambda: memory.save_interaction(FAN, CREATOR, "poke"),
			"metadata": lambda: memory.save_interaction(FAN, CREATOR, "like", metadata="[1, 2]"),
			"fan_ids": lambda: memory.get_memories_for_fans("not json", CREATOR),
		}
		for field, call in cases.items():
			with self.subTest(field=field):
				with self.assertRaises(frappe.ValidationError) as caught:
					call()
				self.assertIn(field, str(caught.exception))
		self.assertEqual(stored_interactions(), 0)
