# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora.tests.utils import assert_unique_key


class TestArchivedMemoryTracker(FrappeTestCase):
	def test_one_archived_row_per_card(self):
		"""One archived row per card, so re-running an archive never duplicates."""
		assert_unique_key(
			self, "Archived Memory Tracker", ("player", "season", "question_id"), ["a@example.com", "S", "q1"]
		)
		frappe.db.rollback()
