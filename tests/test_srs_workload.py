"""The workload simulator: its FSRS-6 formulas are the scheduler's, its counts follow from cards with a
known fate, it is reproducible, and it reads a season's trackers, parameters and rating shares."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

import pytest
from fsrs import Card, Rating, Scheduler, State

from memora import runtime
from memora.services.srs import workload
from memora.services.srs.fitting import parameters, records
from memora.services.srs.fitting.metrics import recall_probability
from memora.services.srs.workload import CardState, Fsrs, Ratings
from memora.tests import fsrs_data
from tests.srs_data import insert_trackers, make_season

W = parameters.DEFAULT
SEASON = "Workload 2026"
ALL_GOOD = Ratings(first=(0, 0, 1, 0), recalled=(0, 1, 0))


def utc(days: float) -> datetime:
	return datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(days=days)


@pytest.mark.unit
@pytest.mark.parametrize("w", [W, fsrs_data.GENERATING], ids=["default", "generating"])
def test_the_formulas_are_the_schedulers(w):
	"""Every step the simulator takes gives the stability, difficulty and interval the fsrs package's
	Scheduler gives the same review."""
	reference = Scheduler(parameters=w, desired_retention=0.85, enable_fuzzing=False)
	model = Fsrs(w)
	per_stability = model.interval_factor(0.85)
	for rating in Rating:
		first, _ = reference.review_card(Card(card_id=1), rating, utc(0))
		assert model.initial(rating) == pytest.approx((first.stability, first.difficulty))
		for elapsed in (0.2, 3, 40):
			card = Card(
				card_id=1, state=State.Review, stability=7.5, difficulty=6.2, due=utc(0), last_review=utc(0)
			)
			after, _ = reference.review_card(card, rating, utc(elapsed))
			if elapsed < 1:
				stability = model.short_term(7.5, rating)
			else:
				r = model.retrievability(elapsed, 7.5)
				assert r == pytest.approx(recall_probability(elapsed, 7.5, w[20]))
				stability = (
					model.forgotten(7.5, 6.2, r)
					if rating == Rating.Again
					else model.recalled(7.5, 6.2, r, rating)
				)
			assert stability == pytest.approx(after.stability)
			assert model.difficulty(6.2, rating) == pytest.approx(after.difficulty)
			if rating != Rating.Again:
				days = (after.due - after.last_review).days
				assert max(1, round(stability * per_stability)) == days


@pytest.mark.unit
def test_cards_with_a_known_fate():
	# 40 cards due on day 5, reviewed 100 days before with a stability so large they are surely recalled,
	# and scheduled past the window; 10 cards due after the window.
	sure = [CardState(due=5.25, last=-100, stability=1e6, difficulty=5.0)] * 40
	later = [CardState(due=45, last=-3, stability=50.0, difficulty=5.0)] * 10
	[scenario] = workload.simulate(sure + later, W, days=30, ratings=ALL_GOOD, retentions=(0.9,))
	expected = [0] * 30
	expected[5] = 40
	assert scenario["reviews_per_day"] == expected
	assert (scenario["total_reviews"], scenario["due_reviews"]) == (40, 40)
	assert scenario["average_reviews_per_day"] == pytest.approx(40 / 30, abs=0.01)
	assert scenario["expected_retention"] == pytest.approx(recall_probability(105.25, 1e6, W[20]), abs=1e-4)
	# At the end the sure cards are still known, and the later ones recall as the forgetting curve says.
	later_recall = 10 * recall_probability(33, 50.0, W[20])
	assert scenario["memorized_at_end"] == pytest.approx(40 + later_recall, abs=0.1)


@pytest.mark.unit
def test_new_cards_are_learned_the_day_they_are_due_and_come_back_after_their_interval():
	model = Fsrs(W)
	# Answered Good, then one learning step answered Good the same day.
	stability = model.short_term(model.initial(Rating.Good)[0], Rating.Good)
	interval = max(1, round(stability * model.interval_factor(0.9)))
	new = [CardState(due=-2.0)] * 3  # overdue: learned today
	[scenario] = workload.simulate(new, W, days=interval + 1, ratings=ALL_GOOD, retentions=(0.9,))
	assert scenario["reviews_per_day"] == [6] + [0] * (interval - 1) + [3]
	assert scenario["due_reviews"] == 3


@pytest.mark.unit
def test_cards_on_schedule_recall_at_the_desired_retention():
	"""Cards due exactly when FSRS predicts 90 % recall are expected to recall 90 %; a higher desired
	retention costs more reviews and keeps more in memory."""
	model = Fsrs(W)
	rng = random.Random(4)
	cards = []
	for _ in range(3000):
		stability = rng.uniform(3, 60)
		interval = max(1, round(stability * model.interval_factor(0.9)))
		due = rng.uniform(0, 30)
		cards.append(
			CardState(due=due, last=due - interval, stability=stability, difficulty=rng.uniform(3, 8))
		)
	scenarios = workload.simulate(cards, W, days=60)
	at_90 = next(s for s in scenarios if s["desired_retention"] == 0.9)
	assert at_90["expected_retention"] == pytest.approx(0.9, abs=0.01)
	totals = [s["total_reviews"] for s in scenarios]
	memorized = [s["memorized_at_end"] for s in scenarios]
	assert totals == sorted(totals) and totals[0] < totals[-1]
	assert memorized == sorted(memorized)
	assert [s["desired_retention"] for s in scenarios] == list(workload.RETENTIONS)
	# The same states give the same answer.
	assert workload.simulate(cards, W, days=60) == scenarios


def test_a_season_is_simulated_from_its_trackers_and_log():
	make_season(SEASON)
	now = time.time()
	memory = {
		"state": "Review",
		"stability": 12.0,
		"difficulty": 5.0,
		"last_review_date": runtime.from_ts(now - 10 * 86400),
	}
	insert_trackers("ana@example.com", SEASON, {f"q{i}": now + 86400 * (i + 0.5) for i in range(5)}, **memory)
	insert_trackers("bo@example.com", SEASON, {"n1": now - 3600, "n2": None})  # new; n2 not scheduled
	result = workload.simulate_season(SEASON, days="14")
	assert (result["season"], result["days"], result["cards"]) == (SEASON, 14, 6)
	assert (result["parameters_version"], result["ratings_from_log"]) == ("default", False)
	assert result["desired_retention"] == runtime.settings().desired_retention
	assert len(result["scenarios"]) == 6
	for scenario in result["scenarios"]:
		assert len(scenario["reviews_per_day"]) == 14
		# Every reviewed card is reviewed at least on the day it is due.
		assert scenario["reviews_per_day"][0] >= 1 + 1  # the overdue new card and ana's q0
		assert scenario["due_reviews"] >= 5

	# The season's own rating shares once its log holds enough answers.
	rows = fsrs_data.simulate(players=10, cards=20, days=60, seed=2, season=SEASON)
	fsrs_data.insert_log(rows)
	shares = workload.rating_shares(SEASON)
	first = [sum(1 for r in rows if r["state_before"] == "New" and r["rating"] == k) for k in (1, 2, 3, 4)]
	assert shares.from_log and shares.first == tuple(first)
	assert workload.simulate_season(SEASON, 14)["ratings_from_log"]


def test_a_season_is_simulated_with_its_adopted_parameters():
	make_season(SEASON)
	now = time.time()
	insert_trackers(
		"ana@example.com",
		SEASON,
		{f"q{i}": now + 3600 for i in range(50)},
		state="Review",
		stability=20.0,
		difficulty=5.0,
		last_review_date=runtime.from_ts(now - 20 * 86400),
	)
	before = workload.simulate_season(SEASON, 30)
	records.store(
		SEASON,
		{"adopted": True, "parameters": list(fsrs_data.GENERATING), "parameters_version": "20260301-gen"},
	)
	after = workload.simulate_season(SEASON, 30)
	assert after["parameters_version"] == "20260301-gen"
	# GENERATING forgets faster: the same cards need more reviews.
	assert after["scenarios"][4]["total_reviews"] > before["scenarios"][4]["total_reviews"]


@pytest.mark.slow
def test_a_season_of_100000_cards_is_simulated_in_seconds():
	make_season(SEASON)
	rng = random.Random(9)
	now = time.time()
	for player in range(100):
		schedule = {f"q{i}": now + rng.uniform(-2, 40) * 86400 for i in range(1000)}
		insert_trackers(
			f"p{player}@example.com",
			SEASON,
			schedule,
			state="Review",
			stability=rng.uniform(2, 80),
			difficulty=rng.uniform(2, 9),
			last_review_date=runtime.from_ts(now - rng.uniform(1, 30) * 86400),
		)
	started = time.perf_counter()
	result = workload.simulate_season(SEASON, 30)
	seconds = time.perf_counter() - started
	assert result["cards"] == 100_000
	assert seconds < 10, f"{seconds:.1f} s"
