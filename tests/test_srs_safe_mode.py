"""Safe mode: a throwaway Redis is stopped mid-test; answers come from MariaDB, the breaker stops
asking the dead Redis, and service returns to Redis once it is back."""

import logging
import time

import pytest

from memora import runtime
from memora.services.srs import resync_marks, reviews
from memora.services.srs.queue import SRSRedisManager
from tests.harness.workers import wait_until
from tests.srs_data import SEASON, insert_trackers, make_season, tracker

PLAYER = "ana@example.com"
PROBE_INTERVAL = 1

pytestmark = pytest.mark.fault


@pytest.fixture
def own_redis(throwaway_redis, monkeypatch):
	"""Memora's data Redis is a throwaway one; RQ stays on the shared Redis."""
	monkeypatch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	with runtime.override_settings(safe_mode_probe_interval=PROBE_INTERVAL):
		yield throwaway_redis


def events(caplog, name: str) -> int:
	return sum(f'"event": "{name}"' in r.getMessage() for r in caplog.records)


def test_redis_down_then_back(own_redis, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"q3": now - 100, "q1": now - 300, "q2": now - 300, "q9": now + 3600})
	warm = SRSRedisManager().due_session(PLAYER, SEASON, limit=2)
	assert (warm.question_ids, warm.due_count, warm.safe_mode) == (["q1", "q2"], 3, False)

	own_redis.stop()
	manager = SRSRedisManager()
	down = manager.due_session(PLAYER, SEASON, limit=2)
	assert (down.question_ids, down.due_count, down.safe_mode) == (["q1", "q2"], 3, True)
	assert manager.get_due_items(PLAYER, SEASON, limit=10) == ["q1", "q2", "q3"]
	assert manager.get_cache_stats(PLAYER, SEASON)["due_items"] == 3
	assert not manager.is_available()
	assert manager.breaker.is_open and not manager.breaker.allows()
	assert events(caplog, "srs.safe_mode.entered") == 1

	own_redis.start()  # an empty Redis, as after a restart without persistence
	assert SRSRedisManager().due_session(PLAYER, SEASON).safe_mode  # still inside the probe interval
	assert wait_until(manager.breaker.allows, timeout=10 * PROBE_INTERVAL)  # a probe is due
	back = SRSRedisManager().due_session(PLAYER, SEASON, limit=2)
	assert (back.question_ids, back.was_rehydrated, back.safe_mode) == (["q1", "q2"], True, False)
	assert not manager.breaker.is_open
	assert events(caplog, "srs.safe_mode.left") == 1


def test_submit_in_safe_mode_computes_from_mariadb_and_hands_over(own_redis):
	make_season()
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60}, state="Review", stability=3.0, difficulty=5.0)
	runtime.db().sql(
		"update `tabPlayer Memory Tracker` set reps = 4, last_review_date = %s",
		(runtime.from_ts(time.time() - 3 * 86400),),
	)
	runtime.db().commit()
	own_redis.stop()
	result = reviews.submit_review_session(
		PLAYER, SEASON, [{"question_id": "q1", "is_correct": True, "duration_ms": 3000}]
	)
	assert result["safe_mode"] and result["persistence_job_id"]
	assert result["results"][0]["state"] == "Review"
	# Written before the call returned, with the mark that re-syncs the queue once Redis is back.
	row = tracker(PLAYER, SEASON, "q1")
	assert (row["reps"], row["last_review_id"]) == (5, result["results"][0]["review_id"])
	assert resync_marks.outstanding() == 1
	assert runtime.fetch_job(result["persistence_job_id"]) is None
	with pytest.raises(ValueError, match=r"responses\[0\].question_id"):
		reviews.submit_review_session(
			PLAYER, SEASON, [{"question_id": "q-unknown", "is_correct": True, "duration_ms": 3000}]
		)
