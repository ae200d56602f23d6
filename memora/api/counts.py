"""Counting Memora's rows as the caller may read them.

Frappe 15's `frappe.client.get_count` counts any DocType's rows without a permission check, so a
player could learn whether another player has a card (`{player: other, question_id: ...}`) or count
another fan's interactions. hooks.py points that method here: for Memora's DocTypes the count goes
through `frappe.get_list`, which refuses a caller without read permission and applies the DocType's
permission query (a player counts only their own trackers); other apps' DocTypes keep Frappe's count.
"""

from __future__ import annotations

import frappe
from frappe.client import get_count as frappe_get_count
from frappe.utils import get_safe_filters

from memora.api.endpoint import endpoint
from memora.exceptions import NotFound

MODULE = "Memora"


@frappe.whitelist(methods=["GET", "POST"])
@endpoint()
def get_count(
	doctype: str,
	filters: str | dict | list | None = None,
	debug: bool | str = False,
	cache: bool | str = False,
) -> int:
	"""Rows of `doctype` matching `filters` that the session user may read (for Memora's DocTypes;
	other DocTypes are counted by Frappe's own get_count). 404 for a DocType that does not exist."""
	module = frappe.db.get_value("DocType", doctype, "module")
	if module is None:
		raise NotFound("doctype", f"{doctype!r} is not a DocType")
	if module != MODULE:
		return frappe_get_count(doctype, filters, debug, cache)
	rows = frappe.get_list(doctype, filters=get_safe_filters(filters), fields=["count(*) as total"])
	return rows[0].total if rows else 0
