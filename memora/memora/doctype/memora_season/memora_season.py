# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import getdate

from memora.api.utils import raise_as_frappe
from memora.services import validation


class MemoraSeason(Document):
	def validate(self):
		with raise_as_frappe():
			validation.season_name(self.season_name, "season_name")
		if self.start_date and self.end_date and getdate(self.end_date) < getdate(self.start_date):
			frappe.throw(_("End Date cannot be before Start Date"), title=_("Invalid Dates"))
		if self.is_active:
			self.validate_single_active()

	def validate_single_active(self):
		other = frappe.db.get_value("Memora Season", {"is_active": 1, "name": ("!=", self.name)})
		if other:
			frappe.throw(
				_(
					"Season {0} is already active. Deactivate it first: only one season is active at a time."
				).format(frappe.bold(other)),
				title=_("Another Season Is Active"),
			)
