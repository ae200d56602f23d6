# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Per season: live, archived and deletable rows, and where archiving stands (`get_archive_status`)."""

import frappe
from frappe import _

from memora.api.utils import require_admin
from memora.memora.report.columns import column, season_column
from memora.services.srs import archiver, overview


def execute(filters: dict | None = None) -> tuple[list[dict], list[dict]]:
	require_admin()
	filters = frappe._dict(filters or {})
	seasons = [filters.season] if filters.season else overview.seasons(include_archived=True)
	return columns(), [archiver.get_archive_status(season) for season in seasons]


def columns() -> list[dict]:
	return [
		season_column(),
		column("is_active", _("Active"), "Check", 70),
		column("auto_archive", _("Auto Archive"), "Check", 100),
		column("end_date", _("End Date"), "Date", 110),
		column("archive_status", _("Archive Status"), "Data", 120),
		column("active_records", _("Live Rows"), "Int", 110),
		column("archived_records", _("Archived Rows"), "Int", 120),
		column("eligible_for_deletion", _("Eligible for Deletion"), "Int", 150),
		column("total_records", _("Total Rows"), "Int", 110),
		column("has_partition", _("Own Partition"), "Check", 110),
		column("archived_on", _("Archived On"), "Datetime", 160),
		column("archive_error", _("Error"), "Data", 240),
	]
