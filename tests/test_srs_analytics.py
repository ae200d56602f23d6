"""Season analytics on real MariaDB, against figures worked out by hand: true retention and reviews per
day from known ratings, calibration bins from known predictions, the due forecast from known dates."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

import pytest

from memora import runtime
from memora.services.srs import analytics, scheduler
from memora.services.srs.fitting import metrics, parameters, records
from memora.tests import fsrs_data
from tests.srs_data import insert_trackers, make_season

SEASON = "Analytics 2026"
DECAY = parameters.DEFAULT[20]
names = (f"r{n}" for n in itertools.count())


def row(at: datetime, rating: int, state: str | None = "Review", **fields) -> dict:
	"""A review log row of the season; the fields fitting and analytics do not read get plain values."""
	return {
		"name": next(names),
		"player": "ana@example.com",
		"season": SEASON,
		"question_id": "q1",
		"rating": rating,
		"reviewed_at": at,
		"duration_ms": 3000,
		"elapsed_days": 0.0,
		"state_before": state,
		"stability_before": 0.0,
		"difficulty_before": 0.0,
		"state_after": "Review",
		"stability_after": 1.0,
		"difficulty_after": 5.0,
		"next_review_date": at + timedelta(days=1),
		"scheduler": scheduler.FSRS,
		"parameters_version": scheduler.DEFAULT_PARAMETERS,
		**fields,
	}


def today_at(days: int, hour: int = 12) -> datetime:
	return datetime.combine(runtime.now().date() + timedelta(days=days), time(hour))


def test_retention_and_reviews_per_day():
	make_season(SEASON)
	make_season("Other Season")
	yesterday, today = today_at(-1), today_at(0, hour=0)
	fsrs_data.insert_log(
		[
			*(row(yesterday, rating) for rating in (1, 3, 3, 4)),  # Review: 3 of 4 recalled
			*(row(yesterday, rating, "New") for rating in (1, 3)),  # New: 1 of 2
			row(today, 0, None),  # a caller's bare state: a review, neither rated nor of a known state
			row(today, 2, "Relearning"),
			row(today_at(-40), 3),  # before the window
			row(today_at(-1), 1, season="Other Season"),
		]
	)
	found = analytics.season_analytics(SEASON, days=3)
	days = found["per_day"]
	assert [d["date"] for d in days] == [today_at(n).date() for n in (-2, -1, 0)]
	assert [d["reviews"] for d in days] == [0, 6, 2]
	assert [d["retention"] for d in days] == [None, round(4 / 6, 4), 1.0]
	by_state = {s["state"]: s for s in days[1]["by_state"]}
	assert (
		by_state["Review"]["reviews"],
		by_state["Review"]["recalled"],
		by_state["Review"]["retention"],
	) == (
		4,
		3,
		0.75,
	)
	assert by_state["New"]["retention"] == 0.5
	assert by_state["Learning"] == {"state": "Learning", "reviews": 0, "recalled": 0, "retention": None}
	assert (days[2]["rated"], days[2]["recalled"]) == (1, 1)


def test_calibration_bins_predictions_against_outcomes():
	make_season(SEASON)
	at = today_at(-1)
	# Reviewed a little before their stability: FSRS predicts just over 0.9; 9 of 10 recalled.
	on_time = [row(at, 1 if n == 0 else 3, stability_before=8.0, elapsed_days=7.9) for n in range(10)]
	# Reviewed after 30 days on a stability of 5: a lower prediction, all forgotten.
	late = [row(at, 1, stability_before=5.0, elapsed_days=30.0) for _ in range(4)]
	# What calibration leaves out: same-day reviews, new cards, the ladder, unknown states.
	left_out = [
		row(at, 3, stability_before=8.0, elapsed_days=0.01),
		row(at, 3, "New", elapsed_days=2.0),
		row(at, 3, stability_before=2.0, elapsed_days=2.0, scheduler=scheduler.LADDER),
		row(at, 3, None, stability_before=8.0, elapsed_days=8.0),
	]
	fsrs_data.insert_log(on_time + late + left_out)
	bins = analytics.season_analytics(SEASON)["calibration"]
	late_p, on_time_p = (
		metrics.recall_probability(30.0, 5.0, DECAY),
		metrics.recall_probability(7.9, 8.0, DECAY),
	)
	late_bin = int(late_p * 20)
	assert bins == [
		{
			"low": round(late_bin / 20, 2),
			"high": round((late_bin + 1) / 20, 2),
			"reviews": 4,
			"predicted": round(late_p, 4),
			"observed": 0.0,
		},
		{"low": 0.9, "high": 0.95, "reviews": 10, "predicted": round(on_time_p, 4), "observed": 0.9},
	]


def test_calibration_uses_the_decay_of_the_parameters_that_scheduled_each_answer():
	make_season(SEASON)
	fitted = list(fsrs_data.GENERATING)
	records.store(SEASON, {"adopted": True, "parameters": fitted, "parameters_version": "20260301-gen"})
	fsrs_data.insert_log(
		[row(today_at(-1), 3, stability_before=5.0, elapsed_days=20.0, parameters_version="20260301-gen")]
	)
	[found] = analytics.season_analytics(SEASON)["calibration"]
	assert found["predicted"] == round(metrics.recall_probability(20.0, 5.0, fitted[20]), 4)
	assert found["predicted"] != round(metrics.recall_probability(20.0, 5.0, DECAY), 4)


@pytest.mark.parametrize(
	("elapsed", "stability", "decay"), [(1.0, 1.0, 0.1542), (30.0, 4.2, 0.45), (3.5, 80.0, 0.8)]
)
def test_the_sql_forgetting_curve_is_the_python_one(db, elapsed, stability, decay):
	[(found,)] = db.sql(
		f"select {metrics.recall_probability_sql(repr(elapsed), repr(stability), repr(decay))}"
	)
	assert float(found) == pytest.approx(metrics.recall_probability(elapsed, stability, decay), rel=1e-9)


def test_due_forecast_from_next_review_dates():
	make_season(SEASON)
	due = {
		"overdue": today_at(-3),
		"today": datetime.combine(runtime.now().date(), time(23, 59, 59)),
		"tomorrow-1": today_at(1),
		"tomorrow-2": today_at(1, hour=20),
		"last-day": today_at(6, hour=23),
		"after": today_at(7, hour=0),  # the first moment after a 7-day window
		"unscheduled": None,
	}
	insert_trackers(
		"ana@example.com", SEASON, {q: None if at is None else runtime.to_ts(at) for q, at in due.items()}
	)
	insert_trackers("bo@example.com", "Other", {"q1": runtime.to_ts(today_at(0))})
	forecast = analytics.season_analytics(SEASON, days=7)["due_forecast"]
	assert forecast["overdue"] == 1
	assert forecast["per_day"] == [
		{"date": today_at(n).date(), "due": count} for n, count in enumerate([2, 2, 0, 0, 0, 0, 1])
	]


def test_a_season_without_reviews_or_cards():
	make_season(SEASON)
	found = analytics.season_analytics(SEASON, days=2)
	assert found["season"] == SEASON and found["calibration"] == []
	assert [d["reviews"] for d in found["per_day"]] == [0, 0]
	assert found["due_forecast"]["overdue"] == 0
