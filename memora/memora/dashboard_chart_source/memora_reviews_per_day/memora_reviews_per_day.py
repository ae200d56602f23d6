# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Reviews per day in the active season, for the Memora workspace's chart."""

from typing import TypedDict

import frappe
from frappe import _

from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES, parse_json_arg
from memora.services import validation
from memora.services.srs import overview, seasons

DEFAULT_DAYS = 30
MAX_DAYS = 366


class Dataset(TypedDict):
	name: str
	values: list[int]


class ChartData(TypedDict):
	"""What Frappe's chart widget draws: one label per day and one dataset."""

	labels: list[str]
	datasets: list[Dataset]


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(ADMIN_ROLES)
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
) -> ChartData:
	"""Reviews accepted in the active season on each of the last `days` days (`filters`: a JSON object,
	e.g. {"days": 7}; a client retry that changed nothing is not counted). The other arguments are the
	ones Frappe's chart widget sends; this chart's range is its `days` filter, and it is read fresh each
	time (one Redis hash), so it needs no chart cache."""
	days = (parse_json_arg(filters or "{}", "filters", dict) or {}).get("days")
	# An empty Int filter means "the default"; an explicit 0 is refused, not silently widened.
	days = validation.integer(DEFAULT_DAYS if days in (None, "") else days, "days", 1, MAX_DAYS)
	season = seasons.active_season()
	per_day = overview.reviews_per_day(season, days) if season else {}
	return {
		"labels": [day.strftime("%d %b") for day in per_day],
		"datasets": [{"name": _("Reviews"), "values": list(per_day.values())}],
	}
