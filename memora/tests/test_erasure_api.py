# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Erasure of a person over real HTTP on a site: after `erase_player` or `erase_fan`, no row of any
Memora table and no Redis key under the site's prefix (name or value) names them, and only the roles
that may erase can."""

import frappe
import redis

from memora import runtime
from memora.services.erasure.fan import erase_fan
from memora.services.fan_memory import cache
from memora.tests.traces import key_facts, names, table_facts
from memora.tests.utils import CommittedSeasonTestCase, api_token, http

TARGET = "memora-erase-target@example.com"
SERVICE = "memora-erase-service@example.com"
ADMIN = "memora-erase-admin@example.com"
SEASON = "Test Erasure API"
FAN, CREATORS = "erase-api-fan-77", ("erase-api-creator-a", "erase-api-creator-b")


# Memora's key families under the site prefix. The prefix also holds Frappe's own cache (a User's
# search index entry, say): erasing the User record is Frappe's own personal-data deletion.
KEY_FAMILIES = (
	"srs",
	"srs-season",
	"srs-persisted",
	"in-flight",
	"memory",
	"rl",
	"metrics",
	"reconciliation",
)


def memoras(fact) -> bool:
	return fact[0] != "redis" or fact[1].removeprefix(runtime.key_prefix()).split(":")[0] in KEY_FAMILIES


def traces_of(*ids: str) -> list:
	"""Every row of a Memora table and every Memora key of the site that names all of `ids`."""
	cache.drain()
	frappe.db.commit()
	# A client that returns bytes: Frappe's own keys under the prefix hold pickles.
	raw = redis.Redis.from_url(runtime.redis_url())
	facts = table_facts() | key_facts(raw, runtime.key_prefix() + "*")
	return sorted(fact for fact in facts if memoras(fact) and names(fact, *ids))


class TestErasureAPI(CommittedSeasonTestCase):
	USERS = ((TARGET, "Memora Player"), (SERVICE, "Memora Service"), (ADMIN, "Memora Admin"))
	SEASON = SEASON
	PLAYERS = (TARGET,)

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.tokens = {user: api_token(user) for user, *_ in cls.USERS}

	def test_only_admins_erase_players_and_only_service_or_admins_erase_fans(self):
		for user in (TARGET, SERVICE):
			response = http("POST", "memora.api.erasure.erase_player", self.tokens[user], player=TARGET)
			self.assertEqual(response.status_code, 403, user)
		response = http("POST", "memora.api.erasure.erase_fan", self.tokens[TARGET], fan_id=FAN)
		self.assertEqual(response.status_code, 403)

	def test_erasing_a_player_leaves_no_trace(self):
		self.add_due_tracker(TARGET, "q-erase-1")
		self.add_due_tracker(TARGET, "q-erase-2")
		token = self.tokens[TARGET]
		self.assertEqual(
			http("GET", "memora.api.reviews.get_review_session", token, season=SEASON).status_code, 200
		)
		answer = [{"question_id": "q-erase-1", "is_correct": True, "duration_ms": 2000}]
		submitted = http(
			"POST", "memora.api.reviews.submit_review_session", token, season=SEASON, responses=answer
		)
		self.assertEqual(submitted.status_code, 200)
		self.assertTrue(traces_of(TARGET))

		response = http("POST", "memora.api.erasure.erase_player", self.tokens[ADMIN], player=TARGET.upper())
		self.assertEqual(response.status_code, 200, response.get_data(as_text=True))
		receipt = response.get_json()["message"]
		self.assertEqual(receipt["rows"]["Player Memory Tracker"], 2)
		self.assertEqual(traces_of(TARGET), [])
		entry = frappe.get_doc("Memora Erasure", receipt["erasure"])
		self.assertEqual((entry.subject_kind, entry.subject), ("player", receipt["subject"]))

	def test_erasing_a_fan_leaves_no_trace_with_any_creator(self):
		token = self.tokens[SERVICE]
		erase_fan(FAN)
		for creator in CREATORS:
			saved = http(
				"POST",
				"memora.api.memory.save_interaction",
				token,
				fan_id=FAN,
				creator_id=creator,
				type="message",
				content="My dog Rex loves your videos",
			)
			self.assertEqual(saved.status_code, 200)
			context = http(
				"GET", "memora.api.memory.get_memory_context", token, fan_id=FAN, creator_id=creator
			)
			self.assertEqual(context.status_code, 200)
		self.assertTrue(traces_of(FAN))

		response = http("POST", "memora.api.erasure.erase_fan", token, fanId=FAN)
		self.assertEqual(response.status_code, 200, response.get_data(as_text=True))
		self.assertEqual(response.get_json()["message"]["rows"]["Interaction"], 2)
		self.assertEqual(traces_of(FAN), [])
