# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document

from memora import app_ddl


class Interaction(Document):
	pass


def on_doctype_update():
	app_ddl.apply("Interaction")
