# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Reviews per day in the active season, for the Memora workspace's chart."""

from typing import TypedDict

import frappe
from frappe import _
from frappe.utils.dashboard import cache_source

from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES, parse_json_arg
from memora.exceptions import ValidationError
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
	"""Reviews accepted in the active season on each of the last `days` days (a client retry that
	changed nothing is not counted). The chart widget names its chart and gets Frappe's chart cache;
	a call without one is answered fresh."""
	if chart_name or chart:
		if not chart_name and not parse_json_arg(chart, "chart", dict).get("name"):
			raise ValidationError("chart", "must name its Dashboard Chart")
		return cached_chart(chart_name=chart_name, chart=chart, no_cache=no_cache, filters=filters)
	return reviews_chart(filters)


def reviews_chart(filters: str | None = None, **chart_options) -> ChartData:
	"""The chart's data; `chart_options` are what Frappe's chart cache passes and this chart ignores
	(its range is the `days` filter)."""
	days = frappe.parse_json(filters or "{}").get("days")
	# An empty Int filter means "the default"; an explicit 0 is refused, not silently widened.
	days = validation.integer(DEFAULT_DAYS if days in (None, "") else days, "days", 1, MAX_DAYS)
	season = seasons.active_season()
	per_day = overview.reviews_per_day(season, days) if season else {}
	return {
		"labels": [day.strftime("%d %b") for day in per_day],
		"datasets": [{"name": _("Reviews"), "values": list(per_day.values())}],
	}


cached_chart = cache_source(reviews_chart)
