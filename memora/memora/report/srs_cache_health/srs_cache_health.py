# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Per season: the Redis review queues (players, queues, cards, due now, memory) beside the live rows
they mirror, and the last reconciliation that covered the season."""

import frappe
from frappe import _

from memora.api.utils import require_admin
from memora.services import overview


def execute(filters: dict | None = None) -> tuple[list[dict], list[dict]]:
	require_admin()
	filters = frappe._dict(filters or {})
	seasons = [filters.season] if filters.season else overview.seasons()
	rows = [
		{**overview.season_cache_health(season), "trackers": overview.season_trackers_estimate(season)}
		for season in seasons
	]
	return columns(), rows


def columns() -> list[dict]:
	return [
		{
			"fieldname": "season",
			"label": _("Season"),
			"fieldtype": "Link",
			"options": "Memora Season",
			"width": 180,
		},
		{"fieldname": "trackers", "label": _("Live Rows (est.)"), "fieldtype": "Int", "width": 130},
		{"fieldname": "players", "label": _("Players"), "fieldtype": "Int", "width": 100},
		{"fieldname": "queues", "label": _("Queues in Redis"), "fieldtype": "Int", "width": 130},
		{"fieldname": "cards", "label": _("Cards in Redis"), "fieldtype": "Int", "width": 120},
		{"fieldname": "due_now", "label": _("Due Now"), "fieldtype": "Int", "width": 100},
		{"fieldname": "memory_bytes", "label": _("Memory (bytes)"), "fieldtype": "Int", "width": 130},
		{
			"fieldname": "last_reconciliation",
			"label": _("Last Reconciliation"),
			"fieldtype": "Datetime",
			"width": 170,
		},
		{"fieldname": "discrepancy_rate", "label": _("Discrepancy %"), "fieldtype": "Percent", "width": 120},
		{"fieldname": "corrections", "label": _("Corrections"), "fieldtype": "Int", "width": 110},
	]
