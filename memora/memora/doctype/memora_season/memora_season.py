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
from memora.services.srs import scheduler

# The desired retention a season may ask for: below, reviews come too rarely to keep much; above, the
# workload grows steeply for little more retention.
RETENTION_RANGE = (0.7, 0.99)


class MemoraSeason(Document):
	def before_insert(self):
		if not self.desired_retention:
			self.desired_retention = runtime.settings().desired_retention

	def validate(self):
		with raise_as_frappe():
			validation.season_name(self.season_name, "season_name")
		if self.start_date and self.end_date and getdate(self.end_date) < getdate(self.start_date):
			frappe.throw(_("End Date cannot be before Start Date"), title=_("Invalid Dates"))
		if self.is_active:
			self.validate_single_active()
		low, high = RETENTION_RANGE
		if self.desired_retention and not low <= self.desired_retention <= high:
			frappe.throw(
				_("Desired Retention must be between {0} and {1} (0: Memora Settings').").format(low, high),
				title=_("Invalid Desired Retention"),
			)

	def on_update(self):
		# This worker schedules with the new desired retention at once; others within seconds.
		scheduler.forget_season_parameters()

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
