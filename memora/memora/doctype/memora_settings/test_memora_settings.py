# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Memora Settings on a site: the DocType's defaults, what the services read, and the refused values."""

import frappe
from frappe.tests.utils import FrappeTestCase, change_settings
from frappe.utils import flt

from memora import install, runtime

SETTINGS = "Memora Settings"
NUMERIC = ("Int", "Float", "Check", "Percent", "Currency")


def as_text(field: dict, value) -> str:
	"""JSON defaults are text ("1" for a Float): compare numbers as numbers."""
	return str(flt(value)) if field["fieldtype"] in NUMERIC else str(value)


class TestMemoraSettings(FrappeTestCase):
	def test_a_new_settings_doc_has_every_doctype_default(self):
		doc = frappe.new_doc(SETTINGS)
		for field in runtime.settings_fields():
			if field.get("default") not in (None, ""):
				with self.subTest(field=field["fieldname"]):
					self.assertEqual(
						as_text(field, doc.get(field["fieldname"])), as_text(field, field["default"])
					)
		doc.validate()

	def test_the_services_read_the_saved_settings(self):
		with change_settings(SETTINGS, max_retries=5, scheduler_algorithm="Memora Ladder"):
			current = runtime.settings()
			self.assertEqual((current.max_retries, current.scheduler_algorithm), (5, "Memora Ladder"))
		self.assertEqual(runtime.settings().max_retries, frappe.get_single(SETTINGS).max_retries)

	def test_out_of_range_values_are_refused(self):
		for field, value in (
			("desired_retention", 0.5),
			("max_retries", 21),
			("bulk_batch_size", 0),
			("engagement_half_life_days", 0),
		):
			doc = frappe.get_single(SETTINGS)
			doc.set(field, value)
			with self.subTest(field=field), self.assertRaises(frappe.ValidationError):
				doc.save()

	def test_a_field_added_by_an_upgrade_gets_its_default_at_migrate(self):
		"""An existing site has no stored value for a new field, which Frappe reads as 0; migrate's
		`fill_settings_defaults` stores the DocType default."""
		field = "recall_embed_batch_size"
		frappe.db.delete("Singles", {"doctype": SETTINGS, "field": field})
		frappe.clear_document_cache(SETTINGS, SETTINGS)
		runtime.forget_settings()
		self.assertEqual(runtime.settings()[field], 0)

		self.assertEqual(install.fill_settings_defaults(), [field])
		self.assertEqual(runtime.settings()[field], 64)
		self.assertEqual(install.fill_settings_defaults(), [])
