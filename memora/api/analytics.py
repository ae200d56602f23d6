"""A season's learning analytics over REST: the workload simulator, retention, calibration and due
forecast, and the FSRS parameter fits kept on the season. Memora Admin / System Manager only.

Fitting itself is a long job: start it with `memora.api.desk.start_season_action(season, "optimize")`
and follow it with `memora.api.desk.job_status`.
"""

from __future__ import annotations

from datetime import date
from typing import NotRequired, TypedDict

import frappe

from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES
from memora.services.srs import analytics, seasons, workload
from memora.services.srs.fitting import records


class Scenario(TypedDict):
	"""The season under one desired retention: reviews on each coming day (learning steps included),
	the expected share of due reviews recalled, and the cards recalled at the end (expected)."""

	desired_retention: float
	reviews_per_day: list[int]
	average_reviews_per_day: float
	total_reviews: int
	due_reviews: int
	expected_retention: float | None
	memorized_at_end: float


class Workload(TypedDict):
	"""The simulator's answer: one scenario per desired retention 0.70-0.95, from the season's `cards`
	(scheduled trackers) and the parameters it schedules with; `ratings_from_log` is false when the log
	was too short to learn how its players rate (Anki users' shares stood in)."""

	season: str
	days: int
	cards: int
	parameters_version: str
	desired_retention: float
	ratings_from_log: bool
	scenarios: list[Scenario]


class StateRetention(TypedDict):
	"""Rated reviews of cards in one state before the review, and the share not rated Again."""

	state: str
	reviews: int
	recalled: int
	retention: float | None


class DayFigures(TypedDict):
	"""One day of the log: every review, the rated ones, those not rated Again, and true retention."""

	date: date
	reviews: int
	rated: int
	recalled: int
	retention: float | None
	by_state: list[StateRetention]


class CalibrationBin(TypedDict):
	"""Reviews whose predicted recall probability lay in [low, high): the mean prediction and the share
	recalled."""

	low: float
	high: float
	reviews: int
	predicted: float
	observed: float


class DueDay(TypedDict):
	date: date
	due: int


class DueForecast(TypedDict):
	"""Cards due each coming day (today includes every overdue one) and the overdue count now."""

	overdue: int
	per_day: list[DueDay]


class SeasonAnalytics(TypedDict):
	"""The last `days` days of the season's log and its next `days` days of due cards."""

	season: str
	days: int
	per_day: list[DayFigures]
	calibration: list[CalibrationBin]
	due_forecast: DueForecast


class ParameterFit(TypedDict):
	"""One fit kept on the season (docs/srs.md, "Fitting FSRS parameters per season"); a skipped fit is
	never kept, and the metrics and parameters are there whenever a fit was made."""

	fitted_at: str
	status: str
	adopted: bool
	reason: str
	reviews: int
	cards: int
	partial_cards: int
	train_reviews: int
	test_reviews: int
	current_version: str
	held_out_from: NotRequired[str]
	parameters: NotRequired[list[float]]
	parameters_version: NotRequired[str]
	current_log_loss: NotRequired[float]
	current_rmse_bins: NotRequired[float]
	current_auc: NotRequired[float | None]
	fitted_log_loss: NotRequired[float]
	fitted_rmse_bins: NotRequired[float]
	fitted_auc: NotRequired[float | None]
	seconds: NotRequired[float]


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def simulate_workload(season: str, days: int = 30) -> Workload:
	"""For desired retention 0.70 to 0.95 (step 0.05): the reviews per day over the next `days` days (1 to
	365) and the recall they buy, simulated from the season's cards now and its adopted parameters."""
	return workload.simulate_season(season, days)


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def season_analytics(season: str, days: int = 30) -> SeasonAnalytics:
	"""True retention (by card state) and reviews on each of the last `days` days (1 to 366), calibration
	of FSRS's predictions over them, and the cards due on each of the next `days` days."""
	return analytics.season_analytics(season, days)


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def parameter_fits(season: str) -> list[ParameterFit]:
	"""Every FSRS parameter fit kept on the season, oldest first."""
	return records.fits(seasons.existing_season(season))
