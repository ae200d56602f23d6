# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document


class SRSQueueResync(Document):
	pass
