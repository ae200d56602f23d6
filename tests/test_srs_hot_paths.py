"""The SRS hot paths' fast forms keep their exact results: the rebuild's one-script merge, the
optimistic write's one-round-trip read, card states read as JSON, season pages read as one column,
and the breaker found from the client."""

import time
from datetime import datetime

import pytest
import redis

from memora import runtime
from memora.runtime import breaker
from memora.services.srs import keys, pending, reviews, trackers
from memora.services.srs.rebuild import rebuild_season_cache
from tests.persistence_data import forget_jobs
from tests.srs_data import SEASON, insert_trackers, make_season

PLAYER = "ana@example.com"


def record_pending(user: str, states: list[dict]) -> None:
	client = runtime.redis_client()
	pipe = client.pipeline()
	pending.record(pipe, user, SEASON, states)
	pipe.execute()


def test_rebuild_keeps_every_digit_of_a_pending_score_and_fills_large_queues(redis_client):
	now = round(time.time())
	# More cards than one ZADD of the merge script takes, on one page.
	insert_trackers(PLAYER, SEASON, {f"q{i:04d}": now + i for i in range(2500)})
	record_pending(PLAYER, [{"question_id": "q0007", "review_id": "r", "next_review_ts": 1767890123.456789}])
	record_pending(PLAYER, [{"question_id": "q-only-pending", "review_id": "r", "next_review_ts": 12.5}])

	result = rebuild_season_cache(SEASON, batch_size=3000)

	assert result["status"] == "completed" and result["total_records"] == 2500
	stored = dict(redis_client.zrange(keys.queue_key(PLAYER, SEASON), 0, -1, withscores=True))
	assert len(stored) == 2501
	assert stored["q0007"] == 1767890123.456789
	assert stored["q-only-pending"] == 12.5
	assert stored["q2499"] == now + 2499


@pytest.fixture
def no_jobs_left():
	"""No worker runs here: drop the persistence job a submission queues, so a later test's worker
	does not run it."""
	yield
	forget_jobs(runtime.settings().persistence_queue)


def test_a_review_session_larger_than_one_script_read_is_applied_whole(redis_client, no_jobs_left):
	make_season()
	now = time.time()
	insert_trackers(PLAYER, SEASON, {f"q{i:04d}": now - 60 for i in range(1200)})
	responses = [{"question_id": f"q{i:04d}", "is_correct": True, "duration_ms": 3000} for i in range(1200)]
	with runtime.override_settings(review_session_limit=1200):
		result = reviews.submit_review_session(PLAYER, SEASON, responses)
	assert result["accepted"] == 1200
	assert len(pending.get_all(PLAYER, SEASON)) == 1200
	queue = keys.queue_key(PLAYER, SEASON)
	assert redis_client.zcount(queue, "-inf", now) == 0


def test_card_states_convert_json_exactly_in_any_zone(monkeypatch):
	monkeypatch.setenv("MEMORA_TIME_ZONE", "Asia/Kolkata")
	reviewed_at, due = 1767890123.456789, 1768890123
	insert_trackers(
		PLAYER,
		SEASON,
		{"q-dated": due, "q-undated": None},
		stability=4.123456789,
		difficulty=7.5,
		state="Review",
		step=0,
		reps=3,
		lapses=1,
		last_rating=3,
		subject="math",
	)
	runtime.db().sql(
		"update `tabPlayer Memory Tracker` set last_review_date = %s, last_review_id = 'r-1' "
		"where question_id = 'q-dated'",
		(runtime.from_ts(reviewed_at),),
	)
	runtime.db().commit()

	states = trackers.card_states(PLAYER, SEASON, ["q-dated", "q-undated", "q-missing"])

	assert set(states) == {"q-dated", "q-undated"}
	assert states["q-dated"] == {
		"question_id": "q-dated",
		"review_id": "r-1",
		"reviewed_at": reviewed_at,
		"next_review_ts": due,
		"stability": 4.123456789,
		"difficulty": 7.5,
		"state": "Review",
		"step": 0,
		"reps": 3,
		"lapses": 1,
		"last_rating": 3,
		"subject": "math",
		"topic": None,
	}
	assert states["q-undated"]["reviewed_at"] is None
	assert states["q-undated"]["next_review_ts"] == trackers.UNSCHEDULED_TS


def test_season_pages_keep_question_ids_with_any_character(monkeypatch):
	monkeypatch.setenv("MEMORA_TIME_ZONE", "Europe/Berlin")
	due = 1767890123.25
	insert_trackers(PLAYER, SEASON, {"a\x1fb c": due, "plain": None})
	rows = trackers.season_page(SEASON, None, 10)
	assert [(r.player, r.question_id, r.score) for r in rows] == [
		(PLAYER, "plain", trackers.UNSCHEDULED_TS),
		(PLAYER, "a\x1fb c", due),
	]
	assert rows[1].next_review_date == datetime(2026, 1, 8, 17, 35, 23, 250000)


def test_breaker_is_per_server_and_named_without_credentials():
	first = redis.Redis.from_url("redis://user:secret@10.0.0.9:7000/3")
	same_server = redis.Redis.from_url("redis://user:secret@10.0.0.9:7000/3", socket_timeout=1)
	assert breaker.for_client(first) is breaker.for_client(same_server)
	assert breaker.for_client(first) is not breaker.for_client(runtime.redis_client())
	assert breaker.for_client(first).name == "redis://10.0.0.9:7000/3"
