# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora import app_ddl
from memora.services.erasure.fan import erase_fan
from memora.services.pseudonym import pseudonym

FAN = "erasure-test-fan@example.com"


class TestMemoraErasure(FrappeTestCase):
	def test_desk_reads_the_entries_and_nobody_creates_or_edits_them(self):
		permissions = frappe.get_meta("Memora Erasure").permissions
		self.assertEqual({p.role for p in permissions}, {"System Manager", "Memora Admin"})
		for permission in permissions:
			self.assertTrue(permission.read)
			self.assertFalse(permission.create or permission.write or permission.delete)

	def test_an_erasure_leaves_one_entry_that_names_the_fan_by_pseudonym_only(self):
		receipt = erase_fan(FAN.upper(), requested_by=FAN)
		try:
			entry = frappe.get_doc("Memora Erasure", receipt["erasure"])
			self.assertEqual((entry.subject_kind, entry.subject), ("fan", pseudonym(FAN)))
			self.assertEqual(frappe.parse_json(entry.receipt), receipt)
			self.assertNotIn(FAN, frappe.as_json(entry.as_dict()).lower())
			self.assertEqual(app_ddl.index_columns("Memora Erasure")["subject"], ("subject",))
		finally:
			frappe.db.delete("Memora Erasure", {"name": receipt["erasure"]})
			frappe.db.commit()
