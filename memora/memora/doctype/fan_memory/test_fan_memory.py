# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora.tests.utils import assert_unique_key


class TestFanMemory(FrappeTestCase):
	def test_one_memory_per_fan_and_creator(self):
		"""One memory per fan and creator."""
		assert_unique_key(self, "Fan Memory", ("fan_id", "creator_id"), ["fan-1", "creator-1"])
		frappe.db.rollback()
