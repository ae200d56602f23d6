# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora.tests.utils import assert_unique_key


class TestInteraction(FrappeTestCase):
	def test_one_row_per_client_event(self):
		"""One row per client event, so a retried save is stored once."""
		assert_unique_key(
			self, "Interaction", ("creator_id", "fan_id", "event_id"), ["creator-1", "fan-1", "event-1"]
		)
		frappe.db.rollback()
