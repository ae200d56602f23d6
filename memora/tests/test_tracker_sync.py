# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""On a site, the review queue follows every tracker change that is not a review (Desk's form, the
REST resource API, Data Import, delete, rename) once it commits, never a rolled-back one; and Memora's
keys outlive `frappe.clear_cache()` (bench clear-cache, every migrate)."""

import frappe
from frappe.utils import add_to_date, now_datetime
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from memora import runtime
from memora.memora.doctype.player_memory_tracker import player_memory_tracker
from memora.services.srs import keys, pending, review_counts, reviews
from memora.services.srs.archiver import SRSArchiver
from memora.tests.utils import CommittedSeasonTestCase

PLAYER = "memora-sync-player@example.com"
SEASON = "Test Tracker Sync"
CARDS = ("q-sync-1", "q-sync-2", "q-sync-3")


def session() -> list[str]:
	return reviews.get_review_session(PLAYER, SEASON, limit=10)["questions"]


def queue() -> dict[str, float]:
	client = runtime.redis_client()
	return dict(client.zrange(keys.queue_key(PLAYER, SEASON), 0, -1, withscores=True))


def expected() -> dict[str, float]:
	"""The rule: the player's rows with their pending reviews laid over them."""
	frappe.db.commit()
	rows = frappe.get_all(
		"Player Memory Tracker",
		filters={"player": PLAYER, "season": SEASON},
		fields=["question_id", "next_review_date"],
	)
	schedule = {r.question_id: runtime.to_ts(r.next_review_date) if r.next_review_date else 0.0 for r in rows}
	return pending.overlay(schedule, pending.get_all(PLAYER, SEASON))


def newest_reps(question_id: str) -> int:
	"""The card's reps in its newest state: the pending one, else (once a worker has written it and
	cleared the pending state) its row."""
	state = pending.get_all(PLAYER, SEASON).get(question_id)
	if state is not None:
		return state["reps"]
	frappe.db.commit()  # a fresh snapshot: the row a worker committed
	return frappe.db.get_value(
		"Player Memory Tracker", {"player": PLAYER, "season": SEASON, "question_id": question_id}, "reps"
	)


def answer(question_id: str) -> dict:
	return reviews.submit_review_session(
		PLAYER, SEASON, [{"question_id": question_id, "is_correct": True, "duration_ms": 3000}]
	)


class TestTrackerSync(CommittedSeasonTestCase):
	USERS = ((PLAYER, "Memora Player"),)
	SEASON = SEASON
	PLAYERS = (PLAYER,)

	def setUp(self):
		frappe.set_user("Administrator")
		self.reset_trackers()
		frappe.db.commit()
		self.add_due_tracker(PLAYER, CARDS[0])
		self.add_due_tracker(PLAYER, CARDS[1])
		self.assertEqual(sorted(session()), list(CARDS[:2]))

	def tracker(self, question_id: str):
		return frappe.get_doc(
			"Player Memory Tracker", {"player": PLAYER, "season": SEASON, "question_id": question_id}
		)

	def test_a_desk_edit_reaches_the_queue_after_commit(self):
		doc = self.tracker(CARDS[0])
		doc.next_review_date = add_to_date(now_datetime(), days=10)
		doc.save()
		self.assertIn(CARDS[0], session(), "an edit must not reach Redis before it commits")
		frappe.db.commit()
		self.assertEqual(session(), [CARDS[1]])
		self.assertEqual(queue(), expected())

	def test_a_rolled_back_edit_never_reaches_the_queue(self):
		doc = self.tracker(CARDS[0])
		doc.next_review_date = add_to_date(now_datetime(), days=10)
		doc.save()
		frappe.db.rollback()
		frappe.db.commit()
		self.assertEqual(sorted(session()), list(CARDS[:2]))

	def test_rest_resource_writes_insert_and_delete_reach_the_queue(self):
		name = self.tracker(CARDS[1]).name
		frappe.client.set_value(
			"Player Memory Tracker", name, "next_review_date", add_to_date(now_datetime(), days=3)
		)
		frappe.db.commit()
		self.assertEqual(session(), [CARDS[0]])
		self.add_due_tracker(PLAYER, CARDS[2])  # inserts and commits
		self.assertEqual(sorted(session()), [CARDS[0], CARDS[2]])
		frappe.delete_doc("Player Memory Tracker", self.tracker(CARDS[0]).name)
		frappe.db.commit()
		self.assertEqual(session(), [CARDS[2]])
		self.assertEqual(queue(), expected())

	def test_a_renamed_tracker_keeps_its_card(self):
		doc = self.tracker(CARDS[0])
		frappe.rename_doc("Player Memory Tracker", doc.name, f"renamed-{doc.name}", force=True)
		frappe.db.commit()
		self.assertEqual(queue(), expected())
		self.assertEqual(sorted(session()), list(CARDS[:2]))

	def test_an_import_syncs_its_queues_in_batches_and_when_it_ends(self):
		frappe.flags.in_import = True
		try:
			doc = self.tracker(CARDS[0])
			doc.next_review_date = add_to_date(now_datetime(), days=10)
			doc.save()
			frappe.db.commit()
			self.assertIn(CARDS[0], session(), "an import syncs a batch of edits at a time")
		finally:
			frappe.flags.in_import = False
		player_memory_tracker.sync_queues()  # the after_job / after_request hook
		self.assertEqual(session(), [CARDS[1]])

	def test_an_edit_keeps_a_newer_pending_review(self):
		answered = answer(CARDS[0])["results"][0]["next_review_ts"]
		doc = self.tracker(CARDS[0])
		doc.next_review_date = add_to_date(now_datetime(), days=-3)
		doc.save()
		frappe.db.commit()
		self.assertEqual(queue()[CARDS[0]], answered)
		self.assertEqual(queue(), expected())

	def test_keys_outlive_frappe_clear_cache(self):
		first = answer(CARDS[0])
		frappe.clear_cache()
		second = answer(CARDS[0])
		self.assertFalse(second["results"][0]["already_applied"])
		# The second answer builds on the first, pending or already written by the site's worker.
		self.assertEqual(newest_reps(CARDS[0]), 2)
		self.assertNotEqual(first["results"][0]["review_id"], second["results"][0]["review_id"])
		answer(CARDS[1])
		today = runtime.now().date()
		before = review_counts.per_day(SEASON, 1)[today]
		frappe.clear_cache()
		self.assertEqual(review_counts.per_day(SEASON, 1)[today], before)
		client = runtime.redis_client()
		self.assertTrue(client.sismember(keys.season_player_set(SEASON, PLAYER), PLAYER))
		self.assertEqual(queue(), expected())
		# Archiving finds the season's keys through its player set, which the clear kept.
		self.assertGreater(SRSArchiver().clear_redis(SEASON), 0)
		self.assertFalse(client.exists(*keys.player_keys(PLAYER, SEASON)))

	def test_random_document_programs_keep_the_queue_equal_to_the_rows(self):
		run_state_machine_as_test(
			TrackerDocuments,
			settings=settings(
				max_examples=15,
				stateful_step_count=15,
				deadline=None,
				derandomize=True,
				database=None,
				suppress_health_check=list(HealthCheck),
			),
		)


class TrackerDocuments(RuleBasedStateMachine):
	"""Document-path edits (insert, save, delete, rename, each committed or rolled back) interleaved with
	answers: after every step the queue equals the rows with the pending reviews laid over them."""

	@initialize()
	def start(self):
		TestTrackerSync.reset_trackers()
		frappe.db.commit()

	def finish(self, commit: bool) -> None:
		if commit:
			frappe.db.commit()
		else:
			frappe.db.rollback()

	def find(self, card: str):
		name = frappe.db.get_value(
			"Player Memory Tracker", {"player": PLAYER, "season": SEASON, "question_id": card}
		)
		return frappe.get_doc("Player Memory Tracker", name) if name else None

	@rule(card=st.sampled_from(CARDS), days=st.integers(-5, 5), commit=st.booleans())
	def insert_or_move(self, card: str, days: int, commit: bool) -> None:
		doc = self.find(card) or frappe.new_doc(
			"Player Memory Tracker", player=PLAYER, season=SEASON, question_id=card
		)
		doc.next_review_date = add_to_date(now_datetime(), days=days)
		doc.save(ignore_permissions=True)
		self.finish(commit)

	@rule(card=st.sampled_from(CARDS), commit=st.booleans())
	def delete(self, card: str, commit: bool) -> None:
		if doc := self.find(card):
			frappe.delete_doc("Player Memory Tracker", doc.name, ignore_permissions=True)
			self.finish(commit)

	@rule(card=st.sampled_from(CARDS))
	def rename(self, card: str) -> None:
		if doc := self.find(card):
			frappe.rename_doc("Player Memory Tracker", doc.name, frappe.generate_hash(length=10), force=True)
			frappe.db.commit()

	@rule(card=st.sampled_from(CARDS))
	def answer(self, card: str) -> None:
		if card in session():
			answer(card)

	@invariant()
	def queue_equals_rows_and_pending(self) -> None:
		assert queue() == expected(), (queue(), expected())
