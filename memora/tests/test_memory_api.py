# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe

from memora.api import memory
from memora.services.fan_memory import embedding, recall_cache, vectors
from memora.tests.utils import MemoraTestCase, api_token, http

FAN, CREATOR = "test-api-fan", "test-api-creator"


def every_endpoint():
	"""One call of each endpoint, as a client would make it."""
	return {
		"get_memory_context": lambda: memory.get_memory_context(FAN, CREATOR),
		"get_memories_for_fans": lambda: memory.get_memories_for_fans(f'["{FAN}"]', CREATOR),
		"get_engagement_score": lambda: memory.get_engagement_score(FAN, CREATOR),
		"get_memory_stats": lambda: memory.get_memory_stats(CREATOR),
		"search_memories": lambda: memory.search_memories(FAN, CREATOR, "dog"),
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
			"query": lambda: memory.search_memories(FAN, CREATOR, "  "),
			"top_k": lambda: memory.search_memories(FAN, CREATOR, "dog", top_k="many"),
		}
		for field, call in cases.items():
			with self.subTest(field=field):
				with self.assertRaises(frappe.ValidationError) as caught:
					call()
				self.assertIn(field, str(caught.exception))
		self.assertEqual(stored_interactions(), 0)


class TestRecallApi(MemoraTestCase):
	"""search_memories on the site: the embedding job, hybrid results, the context's option, erasure
	of vectors and indexes, and what a client gets over HTTP."""

	USERS = (("memora-recall-service@example.com", "Memora Service"),)
	SEARCH = "memora.api.memory.search_memories"

	def setUp(self):
		super().setUp()
		frappe.set_user("memora-recall-service@example.com")
		for number, text in enumerate(
			("my corgi Pretzel ate my homework", "moving to Porto next month", "great stream today")
		):
			memory.save_interaction(FAN, CREATOR, "message", content=text, event_id=f"recall-{number}")
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")
		memory.clear_memory(FAN, CREATOR)
		frappe.db.commit()
		super().tearDown()

	def test_messages_are_found_by_words_at_once_and_by_meaning_once_embedded(self):
		answer = memory.search_memories(FAN, CREATOR, "Pretzel")
		self.assertEqual(answer["results"][0]["content"], "my corgi Pretzel ate my homework")
		if not embedding.available():
			self.assertEqual(answer["mode"], "lexical")
			return
		self.assertEqual(answer["not_embedded"], 3)
		vectors.embed_pending()  # what the site's worker has not embedded yet
		frappe.db.commit()
		answer = memory.search_memories(FAN, CREATOR, "is the fan relocating?", top_k=1)
		self.assertEqual(answer["not_embedded"], 0)
		self.assertEqual([hit["content"] for hit in answer["results"]], ["moving to Porto next month"])
		self.assertEqual((answer["mode"], answer["results"][0]["matched"]), ("hybrid", "semantic"))
		context = memory.get_memory_context(FAN, CREATOR, query="pets", top_k=2)
		self.assertEqual(
			context["relevant_memories"]["results"][0]["content"], "my corgi Pretzel ate my homework"
		)

	def test_erasure_leaves_no_vector_or_index(self):
		vectors.embed_pending()
		frappe.db.commit()
		self.assertTrue(memory.search_memories(FAN, CREATOR, "Pretzel")["results"])
		memory.clear_memory(FAN, CREATOR)
		self.assertEqual(frappe.db.count("Interaction", {"fan_id": FAN, "embedding": ["is", "set"]}), 0)
		self.assertEqual(recall_cache.forget(FAN), 0)
		self.assertEqual(memory.search_memories(FAN, CREATOR, "Pretzel")["results"], [])

	def test_over_http(self):
		token = api_token("memora-recall-service@example.com")
		found = http("GET", self.SEARCH, token, fanId=FAN, creatorId=CREATOR, query="Porto", topK="2")
		self.assertEqual(found.status_code, 200, found.get_data(as_text=True))
		results = found.json["message"]["results"]
		self.assertTrue(1 <= len(results) <= 2)
		self.assertEqual(results[0]["content"], "moving to Porto next month")
		missing = http("GET", self.SEARCH, token, fan_id=FAN, creator_id=CREATOR)
		self.assertEqual((missing.status_code, missing.json["field"]), (417, "query"), missing.json)
		too_many = http("GET", self.SEARCH, token, fan_id=FAN, creator_id=CREATOR, query="x", top_k="51")
		self.assertEqual((too_many.status_code, too_many.json["field"]), (417, "top_k"), too_many.json)
		refused = http("GET", self.SEARCH, None, fan_id=FAN, creator_id=CREATOR, query="Porto")
		self.assertEqual(refused.status_code, 403)
