# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora import app_ddl, install
from memora.services.srs import partitions


class TestPlayerMemoryTracker(FrappeTestCase):
	def test_table_is_partitioned_with_composite_keys(self):
		self.assertEqual(partitions.partition_method(), "LIST COLUMNS")
		self.assertEqual(partitions.primary_key(), ("name", "season"))
		indexes = app_ddl.index_columns("Player Memory Tracker")
		self.assertEqual(indexes["player_season_question"], ("player", "season", "question_id"))

	def test_apply_is_idempotent(self):
		before = app_ddl.index_columns("Player Memory Tracker")
		install.shape_tables()
		install.shape_tables()
		self.assertEqual(app_ddl.index_columns("Player Memory Tracker"), before)
		self.assertEqual(partitions.partition_method(), "LIST COLUMNS")

	def test_no_single_field_unique_index(self):
		meta = frappe.get_meta("Player Memory Tracker")
		self.assertFalse([df.fieldname for df in meta.fields if df.unique])
