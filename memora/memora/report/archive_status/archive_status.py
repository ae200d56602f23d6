# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Per season: live, archived and deletable rows, and where archiving stands (`get_archive_status`)."""

import frappe
from frappe import _

from memora.api.utils import require_admin
from memora.services import overview, srs_archiver


def execute(filters: dict | None = None) -> tuple[list[dict], list[dict]]:
	require_admin()
	filters = frappe._dict(filters or {})
	seasons = [filters.season] if filters.season else overview.seasons(include_archived=True)
	return columns(), [srs_archiver.get_archive_status(season) for season in seasons]


def columns() -> list[dict]:
	return [
		{
			"fieldname": "season",
			"label": _("Season"),
			"fieldtype": "Link",
			"options": "Memora Season",
			"width": 180,
		},
		{"fieldname": "is_active", "label": _("Active"), "fieldtype": "Check", "width": 70},
		{"fieldname": "auto_archive", "label": _("Auto Archive"), "fieldtype": "Check", "width": 100},
		{"fieldname": "end_date", "label": _("End Date"), "fieldtype": "Date", "width": 110},
		{"fieldname": "archive_status", "label": _("Archive Status"), "fieldtype": "Data", "width": 120},
		{"fieldname": "active_records", "label": _("Live Rows"), "fieldtype": "Int", "width": 110},
		{"fieldname": "archived_records", "label": _("Archived Rows"), "fieldtype": "Int", "width": 120},
		{
			"fieldname": "eligible_for_deletion",
			"label": _("Eligible for Deletion"),
			"fieldtype": "Int",
			"width": 150,
		},
		{"fieldname": "total_records", "label": _("Total Rows"), "fieldtype": "Int", "width": 110},
		{"fieldname": "has_partition", "label": _("Own Partition"), "fieldtype": "Check", "width": 110},
		{"fieldname": "archived_on", "label": _("Archived On"), "fieldtype": "Datetime", "width": 160},
		{"fieldname": "archive_error", "label": _("Error"), "fieldtype": "Data", "width": 240},
	]
