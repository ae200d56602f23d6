# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

from frappe.model.document import Document

from memora.install import shape_tables


class MemoraReviewLog(Document):
	"""Written only by persistence, in the transaction of the tracker upsert (services/srs/persistence)."""


def on_doctype_update():
	"""The per-card history key and the season partitioning are ours (`bench migrate` of an existing
	site creates the table, then this partitions it like the tracker table)."""
	shape_tables("Memora Review Log")
