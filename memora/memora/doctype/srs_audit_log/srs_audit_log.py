# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document

from memora.install import shape_tables


class SRSAuditLog(Document):
	pass


def on_doctype_update():
	shape_tables("SRS Audit Log")
