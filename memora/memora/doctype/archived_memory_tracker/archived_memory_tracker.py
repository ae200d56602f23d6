# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document

from memora.install import shape_tables


class ArchivedMemoryTracker(Document):
	pass


def on_doctype_update():
	shape_tables("Archived Memory Tracker")
