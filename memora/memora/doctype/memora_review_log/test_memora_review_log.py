# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora import app_ddl, install
from memora.services.srs import card, partitions, review_log


class TestMemoraReviewLog(FrappeTestCase):
	def test_table_is_partitioned_like_the_trackers_with_the_history_key(self):
		self.assertEqual(partitions.partition_method(review_log.DOCTYPE), "LIST COLUMNS")
		self.assertEqual(partitions.primary_key(review_log.DOCTYPE), ("name", "season"))
		indexes = app_ddl.index_columns(review_log.DOCTYPE)
		self.assertEqual(
			indexes["player_season_question_reviewed"], ("player", "season", "question_id", "reviewed_at")
		)
		install.shape_tables()
		self.assertEqual(app_ddl.index_columns(review_log.DOCTYPE), indexes)

	def test_state_options_are_the_trackers(self):
		meta = frappe.get_meta(review_log.DOCTYPE)
		for fieldname in ("state_before", "state_after"):
			self.assertEqual(tuple(meta.get_field(fieldname).options.split("\n")), card.CARD_STATES)
