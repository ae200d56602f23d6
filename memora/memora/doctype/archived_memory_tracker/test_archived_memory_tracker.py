# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.tests.utils import FrappeTestCase


class TestArchivedMemoryTracker(FrappeTestCase):
	pass
