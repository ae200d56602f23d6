# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Per season: the Redis review queues (players, queues, cards, due now, memory) beside the live rows
they mirror, and the last reconciliation that covered the season."""

import frappe
from frappe import _

from memora.api.utils import require_admin
from memora.memora.report.columns import column, season_column
from memora.services.srs import overview


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
		season_column(),
		column("trackers", _("Live Rows (est.)"), "Int", 130),
		column("players", _("Players"), "Int", 100),
		column("queues", _("Queues in Redis"), "Int", 130),
		column("cards", _("Cards in Redis"), "Int", 120),
		column("due_now", _("Due Now"), "Int", 100),
		column("memory_bytes", _("Memory (bytes)"), "Int", 130),
		column("last_reconciliation", _("Last Reconciliation"), "Datetime", 170),
		column("discrepancy_rate", _("Discrepancy %"), "Percent", 120),
		column("corrections", _("Corrections"), "Int", 110),
	]
