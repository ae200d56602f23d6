# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from memora import app_ddl
from memora.services import audit_log


class TestSRSAuditLog(FrappeTestCase):
	def test_rows_are_written_with_the_statuses_the_doctype_offers(self):
		self.assertEqual(
			audit_log.statuses(),
			tuple(frappe.get_meta("SRS Audit Log").get_field("status").options.split("\n")),
		)
		entry = audit_log.entry("test_operation", "Success", job_id="memora-test-job", row_count=2)
		audit_log.add([entry])
		self.assertEqual(
			frappe.db.get_value("SRS Audit Log", entry["name"], ["status", "row_count"]), ("Success", 2)
		)
		frappe.db.rollback()

	def test_failed_batches_are_found_by_an_index(self):
		indexes = app_ddl.index_columns("SRS Audit Log")
		self.assertEqual(indexes["operation_status_creation"], ("operation", "status", "creation"))
		self.assertEqual(indexes["job_id"], ("job_id",))
