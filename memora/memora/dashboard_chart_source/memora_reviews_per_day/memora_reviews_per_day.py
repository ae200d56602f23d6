# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Reviews per day in the active season, for the Memora workspace's chart."""

import frappe
from frappe import _
from frappe.utils.dashboard import cache_source

from memora.api.utils import raise_as_frappe, require_admin
from memora.services import validation
from memora.services.srs import overview, seasons

DEFAULT_DAYS = 30
MAX_DAYS = 366


@frappe.whitelist(methods=["GET", "POST"])
@cache_source
def get_data(
	chart_name: str | None = None,
	chart: str | None = None,
	no_cache: str | None = None,
	filters: str | None = None,
	from_date: str | None = None,
	to_date: str | None = None,
	timespan: str | None = None,
	time_interval: str | None = None,
	heatmap_year: str | None = None,
) -> dict:
	"""Reviews accepted in the active season on each of the last `days` days (a client retry that
	changed nothing is not counted)."""
	require_admin()
	with raise_as_frappe():
		days = frappe.parse_json(filters or "{}").get("days")
		# An empty Int filter means "the default"; an explicit 0 is refused, not silently widened.
		days = validation.integer(DEFAULT_DAYS if days in (None, "") else days, "days", 1, MAX_DAYS)
		season = seasons.active_season()
		per_day = overview.reviews_per_day(season, days) if season else {}
	return {
		"labels": [day.strftime("%d %b") for day in per_day],
		"datasets": [{"name": _("Reviews"), "values": list(per_day.values())}],
	}
