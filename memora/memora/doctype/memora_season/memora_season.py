# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from functools import partial

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import getdate

from memora import runtime
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


def create_season_partition(doc, method=None):
	"""doc_events after_insert: give the season its partition of the tracker table.

	Queued on the long queue once the insert commits (a rolled-back insert queues nothing): partition
	DDL may wait for a metadata lock on the busy tracker table, which a web request should not. Until
	it runs, the season's rows land in the DEFAULT partition and move in when it does."""
	frappe.db.after_commit.add(
		partial(
			runtime.enqueue,
			"memora.services.srs.partitions.create_partition",
			queue="long",
			timeout=3600,
			season=doc.name,
		)
	)
