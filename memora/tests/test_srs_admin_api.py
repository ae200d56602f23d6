# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""The partition, archive and retention endpoints on a site: admin-only refusals, refusals in the
current state, flag parsing, and the hooks that wire the scheduler and the season's partition."""

import frappe

from memora.api import srs
from memora.exceptions import ValidationError as MemoraValidationError
from memora.tests.utils import MemoraTestCase

ADMIN = "memora-srs-admin@example.com"
SERVICE = "memora-srs-service@example.com"
PLAYER = "memora-srs-player@example.com"
ACTIVE = "Test SRS Admin Active"
ENDED = "Test SRS Admin Ended"


class TestSRSAdminAPI(MemoraTestCase):
	USERS = ((ADMIN, "Memora Admin"), (SERVICE, "Memora Service"), (PLAYER, "Memora Player"))
	SEASONS = ((ENDED, 0), (ACTIVE, 1))

	def test_every_endpoint_refuses_non_admins(self):
		calls = (
			lambda: srs.create_partition(season=ENDED),
			lambda: srs.list_partitions(),
			lambda: srs.drop_partition(season=ENDED, force=True),
			lambda: srs.archive_season(season_name=ENDED),
			lambda: srs.get_archive_status(season_name=ENDED),
			lambda: srs.flag_eligible_for_deletion(),
			lambda: srs.delete_eligible_records(season_name=ENDED, confirm=True),
		)
		for user in (PLAYER, SERVICE, "Guest"):
			frappe.set_user(user)
			for call in calls:
				with self.assertRaises(frappe.PermissionError):
					call()

	def test_delete_needs_confirm(self):
		frappe.set_user(ADMIN)
		for confirm in (False, "0", "false", 0, None):
			with self.assertRaises(frappe.ValidationError):
				srs.delete_eligible_records(season_name=ENDED, confirm=confirm)
		with self.assertRaises(frappe.ValidationError):
			srs.delete_eligible_records(confirm="maybe")

	def test_archive_refuses_active_unknown_and_hostile_seasons(self):
		frappe.set_user(ADMIN)
		for season in (ACTIVE, "Test No Such Season", "x'; drop table `tabUser`; --"):
			with self.assertRaises(frappe.ValidationError):
				srs.archive_season(season_name=season)

	def test_partition_endpoints_refuse_hostile_names(self):
		frappe.set_user(ADMIN)
		for season in ("a`b", "S1; drop table x", "\u0405eason", "s" * 200):
			with self.assertRaises(frappe.ValidationError):
				srs.create_partition(season=season)
			with self.assertRaises(frappe.ValidationError):
				srs.drop_partition(season=season)
		with self.assertRaises(frappe.ValidationError):
			srs.list_partitions(doctype="User")

	def test_admin_reads_status_and_partitions(self):
		frappe.set_user(ADMIN)
		status = srs.get_archive_status(season_name=ENDED)
		for field in (
			"season",
			"is_active",
			"auto_archive",
			"end_date",
			"active_records",
			"archived_records",
			"eligible_for_deletion",
			"total_records",
		):
			self.assertIn(field, status)
		self.assertEqual(status["season"], ENDED)
		self.assertIn("p_default", [p["partition"] for p in srs.list_partitions()])

	def test_flags_never_use_python_truthiness(self):
		self.assertIs(srs.boolean("0", "force"), False)
		self.assertIs(srs.boolean("false", "force"), False)
		self.assertIs(srs.boolean("true", "force"), True)
		self.assertIs(srs.boolean(1, "force"), True)
		with self.assertRaises(MemoraValidationError):
			srs.boolean("no thanks", "force")

	def test_hooks_wire_the_scheduler_and_the_season_partition(self):
		events = frappe.get_hooks("scheduler_events")
		self.assertIn("memora.services.srs.archiver.process_auto_archive", events["daily_long"])
		self.assertIn(
			"memora.services.srs.reconciliation_runs.reconcile_cache_with_database", events["daily_long"]
		)
		self.assertIn("memora.services.srs.retention.flag_eligible_for_deletion", events["weekly_long"])
		handler = "memora.memora.doctype.memora_season.memora_season.create_season_partition"
		self.assertIn(handler, frappe.get_hooks("doc_events")["Memora Season"]["after_insert"])
		for path in (*events["daily_long"], *events["weekly_long"], handler):
			self.assertTrue(callable(frappe.get_attr(path)))
