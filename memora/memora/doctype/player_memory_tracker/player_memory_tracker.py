# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document

from memora import app_ddl
from memora.api.utils import raise_as_frappe
from memora.services import validation


class PlayerMemoryTracker(Document):
	def validate(self):
		with raise_as_frappe():
			validation.season_name(self.season)
			validation.identifier(self.question_id, "question_id")


def on_doctype_update():
	"""Frappe syncs columns and single-field indexes; the composite keys and partitioning are ours."""
	app_ddl.apply("Player Memory Tracker")
