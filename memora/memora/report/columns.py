# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Column definitions for the script reports, in the shape Frappe's query report reads."""

from frappe import _


def column(fieldname: str, label: str, fieldtype: str, width: int, **extra) -> dict:
	"""One report column; `label` comes already translated so `_()` stays at the call site."""
	return {"fieldname": fieldname, "label": label, "fieldtype": fieldtype, "width": width, **extra}


def season_column() -> dict:
	return column("season", _("Season"), "Link", 180, options="Memora Season")
