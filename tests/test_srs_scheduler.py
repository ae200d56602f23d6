"""Scheduling: the answer -> rating mapping, FSRS against the fsrs package itself, the Memora ladder."""

from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest
from fsrs import Card, Rating, Scheduler

from memora import runtime
from memora.services.srs import scheduler
from memora.services.srs.scheduler import Answer

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc).timestamp()
DAY = 86400

# (days after START, correct?, duration ms): a new card learnt, forgotten once, relearnt.
HISTORY = [
	(0, True, 4000),
	(0.01, True, 3000),
	(1, True, 1500),
	(4, True, 7000),
	(12, False, 9000),
	(12.01, True, 5000),
	(15, True, 2500),
	(40, True, 1000),
]


@pytest.mark.parametrize(
	("is_correct", "duration_ms", "expected"),
	[
		(False, 500, Rating.Again),
		(False, 60_000, Rating.Again),
		(True, 0, Rating.Easy),
		(True, 1999, Rating.Easy),
		(True, 2000, Rating.Good),
		(True, 6000, Rating.Good),
		(True, 6001, Rating.Hard),
	],
)
def test_answer_to_fsrs_rating(is_correct, duration_ms, expected):
	answer = Answer("q1", is_correct, duration_ms)
	assert scheduler.rating(answer, fast_ms=2000, slow_ms=6000) == expected


def replay(history, settings) -> list[dict]:
	states, previous = [], None
	for i, (days, correct, duration) in enumerate(history):
		previous = scheduler.next_state(
			previous, Answer("q1", correct, duration), f"r{i}", START + days * DAY, settings
		)
		states.append(previous)
	return states


@pytest.mark.parametrize("retention", [0.9, 0.85])
def test_fsrs_matches_the_fsrs_package(retention):
	with runtime.override_settings(scheduler_algorithm="FSRS", desired_retention=retention):
		ours = replay(HISTORY, runtime.settings())

	reference = Scheduler(desired_retention=retention, enable_fuzzing=False)
	card = Card(card_id=1)
	for (days, correct, duration), state in zip(HISTORY, ours, strict=True):
		when = datetime.fromtimestamp(START + days * DAY, tz=timezone.utc)
		grade = scheduler.rating(Answer("q1", correct, duration), 2000, 6000)
		card, _ = reference.review_card(card, grade, when)
		assert state["state"] == card.state.name
		assert state["stability"] == pytest.approx(card.stability, rel=1e-12)
		assert state["difficulty"] == pytest.approx(card.difficulty, rel=1e-12)
		assert state["next_review_ts"] == round(card.due.timestamp())
		assert state["step"] == (card.step or 0)
		assert state["last_rating"] == int(grade)


def test_fsrs_counts_reps_and_lapses():
	with runtime.override_settings(scheduler_algorithm="FSRS"):
		states = replay(HISTORY, runtime.settings())
	assert [s["reps"] for s in states] == list(range(1, len(HISTORY) + 1))
	# Only the wrong answer on a card in Review is a lapse; the card then relearns.
	assert [s["lapses"] for s in states] == [0, 0, 0, 0, 1, 1, 1, 1]
	assert states[4]["state"] == "Relearning"


def test_fsrs_is_deterministic_and_respects_maximum_interval():
	with runtime.override_settings(scheduler_algorithm="FSRS", maximum_interval_days=3):
		first, second = replay(HISTORY, runtime.settings()), replay(HISTORY, runtime.settings())
	assert first == second
	reviewed_at = START + HISTORY[-1][0] * DAY
	assert first[-1]["next_review_ts"] - reviewed_at <= 3 * DAY + 1


def test_ladder_steps_and_intervals():
	with runtime.override_settings(scheduler_algorithm="Memora Ladder"):
		settings = runtime.settings()
		answers = [
			(True, 3000),  # new, normal: level 1, +1 day
			(True, 1000),  # fast: level 3, +7 days
			(True, 9000),  # slow: unchanged, +7 days
			(True, 500),  # fast: capped at 4, +14 days
			(True, 500),  # stays at 4
			(False, 500),  # wrong: back to 1
		]
		previous, seen = None, []
		for i, (correct, duration) in enumerate(answers):
			previous = scheduler.next_state(
				previous, Answer("q1", correct, duration), f"r{i}", START + i * DAY, settings
			)
			seen.append((previous["stability"], (previous["next_review_ts"] - START - i * DAY) / DAY))
	assert seen == [(1, 1), (3, 7), (3, 7), (4, 14), (4, 14), (1, 1)]
	assert previous["lapses"] == 1 and previous["reps"] == 6


def test_ladder_slow_first_answer_starts_at_level_one():
	with runtime.override_settings(scheduler_algorithm="Memora Ladder"):
		state = scheduler.next_state(None, Answer("q1", True, 9000), "r", START, runtime.settings())
	assert state["stability"] == 1 and state["next_review_ts"] == START + DAY


def test_switching_from_ladder_to_fsrs_starts_fsrs_memory_fresh():
	with runtime.override_settings(scheduler_algorithm="Memora Ladder"):
		ladder_state = scheduler.next_state(None, Answer("q1", True, 1000), "r1", START, runtime.settings())
	with runtime.override_settings(scheduler_algorithm="FSRS"):
		fsrs_state = scheduler.next_state(
			ladder_state, Answer("q1", True, 3000), "r2", START + DAY, runtime.settings()
		)
	fresh, _ = Scheduler(enable_fuzzing=False).review_card(
		Card(card_id=1), Rating.Good, datetime.fromtimestamp(START + DAY, tz=timezone.utc)
	)
	assert fsrs_state["stability"] == pytest.approx(fresh.stability)
	assert fsrs_state["reps"] == 2


def test_review_time_is_utc_whatever_the_system_zone(monkeypatch):
	monkeypatch.setenv("MEMORA_TIME_ZONE", "America/New_York")
	with runtime.override_settings(scheduler_algorithm="FSRS"):
		state = scheduler.next_state(None, Answer("q1", True, 3000), "r", START, runtime.settings())
	# Good on a new card moves to the second learning step, ten minutes later in absolute time.
	assert state["next_review_ts"] == round(START + timedelta(minutes=10).total_seconds())


def test_each_state_carries_what_the_review_log_keeps():
	"""The card before the answer, the days since its last review, the duration and what scheduled it:
	each state starts where the one before ended."""
	with runtime.override_settings(scheduler_algorithm="FSRS"):
		settings = runtime.settings()
		previous, states = None, []
		for i, (days, correct, duration) in enumerate(HISTORY):
			state = scheduler.next_state(
				previous, Answer("q1", correct, duration), f"r{i}", START + days * DAY, settings
			)
			states.append(state)
			previous = state
	first = states[0]
	assert (first["state_before"], first["stability_before"], first["difficulty_before"]) == ("New", 0, 0)
	assert (first["elapsed_days"], first["duration_ms"], first["scheduler"]) == (0, 4000, "FSRS")
	for (before, after), (day_before, day_after) in zip(pairwise(states), pairwise(HISTORY), strict=True):
		assert (after["state_before"], after["stability_before"], after["difficulty_before"]) == (
			before["state"],
			before["stability"],
			before["difficulty"],
		)
		assert after["elapsed_days"] == pytest.approx(day_after[0] - day_before[0])
		assert after["parameters_version"] == scheduler.DEFAULT_PARAMETERS == "default"
