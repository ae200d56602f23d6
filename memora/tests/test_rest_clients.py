# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""What a real REST client meets, over real HTTP requests through Frappe's whole stack: rate limits per
acting identity (never per address, never counting refusals), typed errors with their status codes and
the field at fault, the correlation id back on every response, the TypeScript fan memory service's
payloads, and counts that respect Memora's permissions."""

import json
import re
from datetime import datetime, timezone

import frappe

from memora import runtime
from memora.api import reviews
from memora.services import rate_limits
from memora.services.erasure.fan import erase_fan
from memora.services.srs import partitions
from memora.tests.utils import CommittedSeasonTestCase, api_token, http

PLAYER = "memora-rest-player@example.com"
OTHER = "memora-rest-other@example.com"
SERVICE = "memora-rest-service@example.com"
ADMIN = "memora-rest-admin@example.com"
SEASON = "Test REST Clients"
SESSION = "memora.api.reviews.get_review_session"
SUBMIT = "memora.api.reviews.submit_review_session"
CORRELATION_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")
FANS = [f"rest-fan-{i}" for i in range(3)]
CREATOR = "rest-creator"


def body(response) -> dict:
	return json.loads(response.get_data(as_text=True))


class TestRESTClients(CommittedSeasonTestCase):
	USERS = (
		(PLAYER, "Memora Player"),
		(OTHER, "Memora Player"),
		(SERVICE, "Memora Service"),
		(ADMIN, "Memora Admin"),
	)
	SEASON = SEASON
	PLAYERS = (PLAYER, OTHER)

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.tokens = {user: api_token(user) for user, *_ in cls.USERS}

	def setUp(self):
		self.forget_counters()

	def tearDown(self):
		self.forget_counters()
		super().tearDown()

	def forget_counters(self):
		for subject in (PLAYER, OTHER, SERVICE, CREATOR, *FANS):
			rate_limits.forget(subject)

	def forget_fans(self, *fans: str):
		for fan in fans:
			erase_fan(fan)
		frappe.db.commit()

	def session(self, user: str, player: str | None = None, **headers):
		arguments = {"season": SEASON, **({"player": player} if player else {})}
		return http("GET", SESSION, self.tokens[user], headers, **arguments)

	# --- rate limits ---------------------------------------------------------------------------------

	def test_a_service_serving_many_players_from_one_address_serves_them_all(self):
		"""With two calls a minute per player, a per-address limit would refuse 198 of these 200."""
		players = [f"memora-rest-many-{i}@example.com" for i in range(200)]
		try:
			with runtime.override_settings(review_rate_limit=2):
				statuses = [self.session(SERVICE, player).status_code for player in players]
			self.assertEqual(statuses, [200] * 200)
		finally:
			for player in players:
				rate_limits.forget(player)

	def test_a_player_hammering_their_own_queue_is_refused_with_retry_after(self):
		with runtime.override_settings(review_rate_limit=3):
			served = [self.session(PLAYER) for _ in range(3)]
			refused = self.session(PLAYER)
		self.assertEqual([r.status_code for r in served], [200, 200, 200])
		self.assertEqual([r.headers["X-RateLimit-Remaining"] for r in served], ["2", "1", "0"])
		self.assertEqual(served[0].headers["X-RateLimit-Limit"], "3")
		self.assertEqual(refused.status_code, 429)
		self.assertTrue(1 <= int(refused.headers["Retry-After"]) <= reviews.REVIEWS.seconds)
		self.assertEqual(body(refused)["error_type"], "RATE_LIMITED")
		self.assertEqual(body(refused)["correlation_id"], refused.headers["X-Correlation-ID"])
		# Another player is not touched by it.
		with runtime.override_settings(review_rate_limit=3):
			self.assertEqual(self.session(OTHER).status_code, 200)

	def test_a_forwarded_for_header_changes_nobodys_budget(self):
		with runtime.override_settings(review_rate_limit=2):
			statuses = [
				self.session(PLAYER, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)
			]
		self.assertEqual(statuses, [200, 200, 429])

	def test_refused_calls_do_not_spend_the_budget(self):
		with runtime.override_settings(review_rate_limit=2):
			refusals = [self.session(OTHER, player=PLAYER).status_code for _ in range(5)]
			own = [self.session(OTHER).status_code for _ in range(2)]
			victim = self.session(PLAYER).status_code
		self.assertEqual(refusals, [403] * 5)
		self.assertEqual(own, [200, 200])
		self.assertEqual(victim, 200)

	def test_a_service_user_has_one_overall_ceiling(self):
		players = [f"memora-rest-ceiling-{i}@example.com" for i in range(4)]
		try:
			with runtime.override_settings(review_rate_limit=100, service_rate_limit=3):
				statuses = [self.session(SERVICE, player).status_code for player in players]
			self.assertEqual(statuses, [200, 200, 200, 429])
		finally:
			for player in players:
				rate_limits.forget(player)

	def test_fan_memory_writes_are_counted_per_fan(self):
		token = self.tokens[SERVICE]
		save = "memora.api.memory.save_interaction"
		try:
			with runtime.override_settings(interaction_rate_limit=2):
				first = [
					http("POST", save, token, fan_id=FANS[0], creator_id=CREATOR, type="like").status_code
					for _ in range(3)
				]
				other = http("POST", save, token, fan_id=FANS[1], creator_id=CREATOR, type="like")
				read = http(
					"GET", "memora.api.memory.get_engagement_score", token, fan_id=FANS[0], creator_id=CREATOR
				)
			self.assertEqual(first, [200, 200, 429])
			self.assertEqual(other.status_code, 200)
			# Reads have a budget of their own.
			self.assertEqual(read.status_code, 200)
		finally:
			self.forget_fans(*FANS[:2])

	# --- errors and correlation ids ------------------------------------------------------------------

	def test_a_missing_argument_is_a_417_naming_it(self):
		response = http("POST", SUBMIT, self.tokens[PLAYER], season=SEASON)
		self.assertEqual(response.status_code, 417)
		self.assertEqual(body(response)["error_type"], "VALIDATION_ERROR")
		self.assertEqual(body(response)["field"], "responses")

	def test_permission_is_checked_before_the_arguments(self):
		for cmd in (
			"memora.api.srs.create_partition",
			"memora.api.desk.job_status",
			"memora.api.ops.reconcile",
		):
			with self.subTest(cmd=cmd):
				response = http("POST" if "job_status" not in cmd else "GET", cmd, self.tokens[PLAYER])
				self.assertEqual(response.status_code, 403)
				self.assertEqual(body(response)["error_type"], "NOT_PERMITTED")
		chart = "memora.memora.dashboard_chart_source.memora_reviews_per_day.memora_reviews_per_day.get_data"
		self.assertEqual(http("GET", chart, self.tokens[PLAYER]).status_code, 403)
		self.assertEqual(http("GET", chart, self.tokens[ADMIN], chart="").status_code, 200)
		for filters in ("not json", "[]", '{"days": 0}'):
			self.assertEqual(
				http("GET", chart, self.tokens[ADMIN], filters=filters).status_code, 417, filters
			)

	def test_an_unknown_season_is_a_404_and_gets_no_partition(self):
		response = http(
			"POST", "memora.api.srs.create_partition", self.tokens[ADMIN], season="No Such Season"
		)
		self.assertEqual(response.status_code, 404)
		self.assertEqual((body(response)["error_type"], body(response)["field"]), ("NOT_FOUND", "season"))
		self.assertNotIn(partitions.partition_id("No Such Season"), partitions.partitions())

	def test_an_unavailable_redis_is_a_503_with_retry_after(self):
		with runtime.override_settings(redis_url="redis://127.0.0.1:1/0", redis_socket_timeout_ms=200):
			response = http("GET", "memora.api.ops.last_reconciliation", self.tokens[ADMIN])
		self.assertEqual(response.status_code, 503)
		self.assertEqual(body(response)["error_type"], "CACHE_ERROR")
		self.assertGreater(int(response.headers["Retry-After"]), 0)

	def test_the_correlation_id_comes_back_on_success_and_error(self):
		mine = "client-trace-7f3a9c"
		ok = self.session(PLAYER, **{"X-Correlation-ID": mine})
		self.assertEqual((ok.status_code, ok.headers["X-Correlation-ID"]), (200, mine))
		refused = self.session(PLAYER, player=OTHER, **{"X-Correlation-ID": mine})
		self.assertEqual((refused.status_code, refused.headers["X-Correlation-ID"]), (403, mine))
		self.assertEqual(body(refused)["correlation_id"], mine)
		issued = [self.session(PLAYER, **{"X-Correlation-ID": "no spaces; allowed"}) for _ in range(2)]
		ids = [r.headers["X-Correlation-ID"] for r in issued]
		self.assertTrue(all(CORRELATION_ID_RE.fullmatch(i) for i in ids), ids)
		self.assertNotEqual(ids[0], ids[1])

	# --- the TypeScript service's clients ----------------------------------------------------------

	def test_a_typescript_client_is_served(self):
		token = self.tokens[SERVICE]
		try:
			saved = http(
				"POST",
				"memora.api.memory.save_interaction",
				token,
				fanId=FANS[2],
				creatorId=CREATOR,
				type="message",
				content="I love your content!",
				timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
				metadata={"platform": "web"},
			)
			self.assertEqual(saved.status_code, 200, saved.get_data(as_text=True))
			context = http(
				"GET", "memora.api.memory.get_memory_context", token, fanId=FANS[2], creatorId=CREATOR
			)
			self.assertEqual(body(context)["message"]["engagement_metrics"]["message_count"], 1)
			bulk = http(
				"POST",
				"memora.api.memory.get_memories_for_fans",
				token,
				fanIds=[FANS[2], "not valid"],
				creatorId=CREATOR,
			)
			answer = body(bulk)["message"]
			self.assertEqual(answer[FANS[2]]["fan_id"], FANS[2])
			self.assertEqual(
				(answer["not valid"]["error_type"], answer["not valid"]["field"]),
				("VALIDATION_ERROR", "fan_ids"),
			)
		finally:
			self.forget_fans(FANS[2])

	# --- counts ------------------------------------------------------------------------------------

	def test_counts_respect_memoras_permissions(self):
		self.add_due_tracker(OTHER, "q-rest-count")
		count = "frappe.client.get_count"

		def trackers(user: str, **filters) -> object:
			return http(
				"GET", count, self.tokens[user], doctype="Player Memory Tracker", filters=json.dumps(filters)
			)

		other_cards = trackers(PLAYER, player=OTHER)
		self.assertEqual((other_cards.status_code, body(other_cards)["message"]), (200, 0))
		own = trackers(OTHER, season=SEASON)
		self.assertEqual(body(own)["message"], 1)
		self.assertEqual(http("GET", count, self.tokens[PLAYER], doctype="Interaction").status_code, 403)
		self.assertEqual(http("GET", count, self.tokens[PLAYER], doctype="ToDo").status_code, 200)
