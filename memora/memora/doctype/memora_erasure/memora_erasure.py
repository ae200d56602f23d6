# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MemoraErasure(Document):
	"""Written only by `memora.services.erasure` (plain SQL in the erasure's own transaction)."""
