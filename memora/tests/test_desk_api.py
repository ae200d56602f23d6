# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""What Desk calls on a site: the season form's actions and job status, the workspace's number cards,
chart and script reports. Admins only; refusals are clear; the answers have the shapes Desk reads."""

import frappe

from memora.api import desk
from memora.memora.dashboard_chart_source.memora_reviews_per_day import memora_reviews_per_day
from memora.memora.report.archive_status import archive_status
from memora.memora.report.fan_memory_stats import fan_memory_stats
from memora.memora.report.srs_cache_health import srs_cache_health
from memora.tests.utils import MemoraTestCase

ADMIN = "memora-desk-admin@example.com"
SERVICE = "memora-desk-service@example.com"
PLAYER = "memora-desk-player@example.com"
ACTIVE = "Test Desk Active"
ENDED = "Test Desk Ended"
CARDS = (
	desk.active_season_trackers,
	desk.items_due_now,
	desk.archived_records,
	desk.reconciliation_discrepancy,
	desk.persistence_lag,
)


class TestDeskAPI(MemoraTestCase):
	USERS = ((ADMIN, "Memora Admin"), (SERVICE, "Memora Service"), (PLAYER, "Memora Player"))
	SEASONS = ((ENDED, 0), (ACTIVE, 1))

	def test_everything_refuses_non_admins(self):
		calls = [
			lambda: desk.season_summary(ENDED),
			lambda: desk.start_season_action(ENDED, "rebuild_cache"),
			lambda: desk.job_status("memora-rebuild-cache-x"),
			lambda: archive_status.execute({}),
			lambda: srs_cache_health.execute({}),
			lambda: fan_memory_stats.execute({}),
			lambda: memora_reviews_per_day.get_data(filters='{"days": 7}', no_cache="1"),
			*[lambda card=card: card() for card in CARDS],
			desk.redis_eviction,
		]
		for user in (PLAYER, SERVICE, "Guest"):
			frappe.set_user(user)
			for call in calls:
				with self.subTest(user=user), self.assertRaises(frappe.PermissionError):
					call()

	def test_season_action_refusals_are_validation_errors(self):
		frappe.set_user(ADMIN)
		with self.assertRaises(frappe.ValidationError):
			desk.start_season_action(ENDED, "drop_everything")
		with self.assertRaises(frappe.ValidationError):
			desk.start_season_action("No Such Season", "rebuild_cache")
		with self.assertRaises(frappe.ValidationError):
			desk.start_season_action("x'; drop table `tabUser`; --", "archive")
		with self.assertRaises(frappe.ValidationError) as refused:
			desk.start_season_action(ACTIVE, "archive")
		self.assertIn("is active", str(refused.exception))

	def test_actions_are_queued_and_their_jobs_can_be_followed(self):
		frappe.set_user(ADMIN)
		summary = desk.season_summary(ENDED)
		self.assertEqual(summary["season"], ENDED)
		self.assertIn("active_records", summary)
		for action in desk.ACTIONS:
			started = desk.start_season_action(ENDED, action)
			self.assertEqual((started["season"], started["action"]), (ENDED, action))
			status = desk.job_status(started["job_id"])
			# Queued, or taken by the site's worker already; a failed or unknown job is a bug.
			self.assertIn(status["status"], ("queued", "started", "finished"))

	def test_number_cards_chart_and_reports_have_the_shapes_desk_reads(self):
		frappe.set_user(ADMIN)
		for card in CARDS:
			value = card(filters="[]")
			self.assertEqual(set(value), {"value", "fieldtype"})
		# A few words, not a number: whatever the machine's Redis is set to, one of the known verdicts.
		self.assertRegex(
			desk.redis_eviction(filters="[]"),
			r"^(Safe|Can evict SRS data|Policy unknown|Evicted [\d,]+ keys)$",
		)
		chart = memora_reviews_per_day.get_data(filters='{"days": 7}')
		self.assertEqual(len(chart["labels"]), 7)
		self.assertEqual(len(chart["datasets"][0]["values"]), 7)
		with self.assertRaises(frappe.ValidationError):
			memora_reviews_per_day.get_data(filters='{"days": 0}')
		for report, filters in (
			(archive_status, {}),
			(srs_cache_health, {"season": ACTIVE}),
			(fan_memory_stats, {"creator_id": "memora-desk-creator"}),
		):
			columns, rows = report.execute(filters)
			fieldnames = {column["fieldname"] for column in columns}
			self.assertTrue(rows, report.__name__)  # a report with no row would check nothing below
			for row in rows:
				self.assertLessEqual(fieldnames, set(row))
		_, rows = archive_status.execute({"season": ENDED})
		self.assertEqual([row["season"] for row in rows], [ENDED])
