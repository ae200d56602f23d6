# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase


def make_season(name, is_active=0, **kwargs):
	return frappe.get_doc(
		{
			"doctype": "Memora Season",
			"season_name": name,
			"start_date": "2026-01-01",
			"end_date": "2026-12-31",
			"is_active": is_active,
			**kwargs,
		}
	).insert()


class TestMemoraSeason(FrappeTestCase):
	def test_hostile_names_are_refused(self):
		for name in ("x'; drop table tabUser; --", "a`b", "\uff33eason", "x" * 61, " padded"):
			with self.assertRaises(frappe.ValidationError):
				make_season(name)

	def test_only_one_active_season(self):
		make_season("Test Active One", is_active=1)
		with self.assertRaises(frappe.ValidationError):
			make_season("Test Active Two", is_active=1)

	def test_end_before_start_is_refused(self):
		with self.assertRaises(frappe.ValidationError):
			make_season("Test Dates", start_date="2026-05-01", end_date="2026-04-01")
