"""Review sessions end to end: validation, Redis updated at once, persistence handed over, two quick
answers to one card, client retries, and a real RQ worker writing the rows."""

import threading
import time

import pytest

from memora import runtime
from memora.exceptions import NotAllowed, ValidationError
from memora.services.srs import keys, overview, pending, reviews
from memora.services.srs.queue import SRSRedisManager
from tests.harness.workers import wait_until
from tests.srs_data import SEASON, insert_trackers, make_season, tracker

PLAYER = "ana@example.com"


def answer(qid: str, correct: bool = True, duration_ms: int = 3000, **extra) -> dict:
	return {"question_id": qid, "is_correct": correct, "duration_ms": duration_ms, **extra}


@pytest.fixture
def season(redis_client):
	make_season()
	now = time.time()
	insert_trackers(
		PLAYER,
		SEASON,
		{"q1": now - 3600, "q2": now - 60},
		subject="math",
		topic="algebra",
		state="Review",
		stability=4.0,
		difficulty=5.0,
		reps=3,
	)
	runtime.db().sql(
		"update `tabPlayer Memory Tracker` set last_review_date = %s", (runtime.from_ts(now - 4 * 86400),)
	)
	runtime.db().commit()
	SRSRedisManager().add_batch(PLAYER, SEASON, {"q-new": now - 10})
	return SEASON


def test_session_defaults_to_the_active_season_and_counts_what_remains(season):
	session = reviews.get_review_session(PLAYER, limit=2)
	assert session["season"] == SEASON
	assert session["questions"] == ["q1", "q2"]
	assert (session["due_count"], session["remaining"], session["safe_mode"]) == (3, 1, False)


def test_submit_updates_redis_at_once_and_persists_in_the_background(season, redis_client, workers):
	result = reviews.submit_review_session(PLAYER, SEASON, [answer("q1"), answer("q-new", False, 800)])
	assert result["accepted"] == 2 and not result["safe_mode"]
	by_id = {r["question_id"]: r for r in result["results"]}
	assert by_id["q1"]["rating"] == 3 and by_id["q-new"]["rating"] == 1
	queue = keys.queue_key(PLAYER, SEASON)
	assert redis_client.zscore(queue, "q1") == by_id["q1"]["next_review_ts"] > time.time() + 86400
	assert set(pending.get_all(PLAYER, SEASON)) == {"q1", "q-new"}
	# The reply came before any worker ran: MariaDB still has the old card.
	assert tracker(PLAYER, SEASON, "q1")["reps"] == 3

	workers("short")
	assert wait_until(lambda: tracker(PLAYER, SEASON, "q-new") is not None, timeout=30)
	assert wait_until(lambda: pending.get_all(PLAYER, SEASON) == {}, timeout=30)
	row = tracker(PLAYER, SEASON, "q1")
	assert row["reps"] == 4 and row["last_review_id"] == by_id["q1"]["review_id"]
	assert float(row["stability"]) == pytest.approx(by_id["q1"]["stability"], abs=1e-6)
	assert runtime.to_ts(row["next_review_date"]) == by_id["q1"]["next_review_ts"]
	assert row["subject"] == "math"


def test_two_quick_answers_to_one_card_both_count(season):
	first = reviews.submit_review_session(PLAYER, SEASON, [answer("q2", False)])
	second = reviews.submit_review_session(PLAYER, SEASON, [answer("q2", True, 1000)])
	assert first["results"][0]["review_id"] != second["results"][0]["review_id"]
	state = pending.get_all(PLAYER, SEASON)["q2"]
	assert (state["reps"], state["lapses"]) == (5, 1)
	assert state["review_id"] == second["results"][0]["review_id"]


def test_answer_after_persistence_reads_the_fresh_row(season, workers):
	workers("short")
	reviews.get_review_session(PLAYER)  # opens a read snapshot on this connection
	reviews.submit_review_session(PLAYER, SEASON, [answer("q2", False)])
	assert wait_until(lambda: pending.get_all(PLAYER, SEASON) == {}, timeout=30)
	reviews.submit_review_session(PLAYER, SEASON, [answer("q2")])
	assert wait_until(lambda: tracker(PLAYER, SEASON, "q2")["reps"] == 5, timeout=30)


def test_concurrent_answers_to_one_card_are_all_applied(season):
	errors = []

	def submit(i: int) -> None:
		try:
			reviews.submit_review_session(PLAYER, SEASON, [answer("q1", review_id=f"client-{i}")])
		except Exception as e:
			errors.append(e)
		finally:
			runtime.db().close()

	threads = [threading.Thread(target=submit, args=(i,)) for i in range(6)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join(timeout=30)
	assert errors == []
	assert pending.get_all(PLAYER, SEASON)["q1"]["reps"] == 3 + 6


def test_a_client_retry_changes_nothing(season, redis_client):
	first = reviews.submit_review_session(PLAYER, SEASON, [answer("q1", review_id="client-1")])
	score = redis_client.zscore(keys.queue_key(PLAYER, SEASON), "q1")
	retry = reviews.submit_review_session(PLAYER, SEASON, [answer("q1", review_id="client-1")])
	assert retry["results"][0]["already_applied"] and not first["results"][0]["already_applied"]
	assert retry["results"][0]["next_review_ts"] == first["results"][0]["next_review_ts"] == score
	assert pending.get_all(PLAYER, SEASON)["q1"]["reps"] == 4
	assert retry["persistence_job_id"] == first["persistence_job_id"]


def test_reviews_per_day_count_every_applied_answer_once(season):
	reviews.submit_review_session(PLAYER, SEASON, [answer("q1", review_id="c-1"), answer("q2")])
	reviews.submit_review_session(PLAYER, SEASON, [answer("q1", review_id="c-1")])  # a client retry
	reviews.submit_review_session(PLAYER, SEASON, [answer("q1", review_id="c-2")])  # the card again

	per_day = overview.reviews_per_day(SEASON, 3)
	assert list(per_day.values()) == [0, 0, 3]
	assert list(per_day)[-1] == runtime.now().date()


def test_derived_review_id_comes_from_player_season_question_and_time():
	a = reviews.answer_review_id(PLAYER, SEASON, "q1", 1_700_000_000.123456)
	assert a == reviews.answer_review_id(PLAYER, SEASON, "q1", 1_700_000_000.123456)
	assert a != reviews.answer_review_id(PLAYER, SEASON, "q1", 1_700_000_000.123457)
	assert a.startswith("srs-") and len(a) <= 140


@pytest.mark.parametrize(
	("responses", "field"),
	[
		("not json", "responses"),
		([], "responses"),
		({"question_id": "q1"}, "responses"),
		([answer("q1")] * 101, "responses"),
		(["q1"], "responses[0]"),
		([answer("q1"), answer("")], "responses[1].question_id"),
		([answer("q1", correct="maybe")], "responses[0].is_correct"),
		([answer("q1", duration_ms=-5)], "responses[0].duration_ms"),
		([answer("q1", duration_ms="fast")], "responses[0].duration_ms"),
		([answer("q1", duration_ms=3_600_001)], "responses[0].duration_ms"),
		([answer("q1"), answer("q1")], "responses[1].question_id"),
		([answer("q1", review_id="r"), answer("q2", review_id="r")], "responses[1].review_id"),
		([answer("q1"), answer("q-not-mine")], "responses[1].question_id"),
	],
)
def test_bad_responses_name_the_field_and_change_nothing(season, redis_client, responses, field):
	queue = keys.queue_key(PLAYER, SEASON)
	reviews.get_review_session(PLAYER)
	before = redis_client.zrange(queue, 0, -1, withscores=True)
	with pytest.raises(ValidationError) as error:
		reviews.submit_review_session(PLAYER, SEASON, responses)
	assert error.value.field == field
	assert redis_client.zrange(queue, 0, -1, withscores=True) == before
	assert pending.get_all(PLAYER, SEASON) == {}


def test_form_posted_values_are_accepted(season):
	result = reviews.submit_review_session(
		PLAYER, SEASON, '[{"question_id": "q1", "is_correct": "false", "duration_ms": "2500"}]'
	)
	assert result["results"][0]["rating"] == 1


def test_unknown_and_archived_seasons_are_refused(redis_client):
	with pytest.raises(ValidationError, match="does not exist"):
		reviews.submit_review_session(PLAYER, "Nope", [answer("q1")])
	make_season("2020-2021", active=False, archive_status="Archived")
	with pytest.raises(NotAllowed):
		reviews.submit_review_session(PLAYER, "2020-2021", [answer("q1")])
	with pytest.raises(ValidationError, match="no Memora Season is active"):
		reviews.get_review_session(PLAYER)


def test_subject_and_topic_filters_see_pending_answers(season):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"h1": now - 500}, subject="history", topic="rome")
	assert reviews.get_review_session(PLAYER, subject="math")["questions"] == ["q1", "q2"]
	assert reviews.get_review_session(PLAYER, subject="history", topic="rome")["questions"] == ["h1"]
	reviews.submit_review_session(PLAYER, SEASON, [answer("q1")])
	session = reviews.get_review_session(PLAYER, subject="math", topic="algebra")
	assert (session["questions"], session["due_count"]) == (["q2"], 1)


def test_limit_is_bounded_by_settings(season):
	with pytest.raises(ValidationError, match="limit"):
		reviews.get_review_session(PLAYER, limit=101)
	with runtime.override_settings(review_session_limit=500):
		assert reviews.get_review_session(PLAYER, limit=500)["due_count"] == 3
