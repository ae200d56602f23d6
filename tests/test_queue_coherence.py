"""The review queue tells what MariaDB holds: each path that used to leave Redis and MariaDB apart
(docs/srs.md, "The rule") keeps them in step, on the real MariaDB, Redis and RQ workers."""

import time

import pytest

from memora import hooks, runtime
from memora.services.srs import (
	keys,
	pending,
	persistence,
	queue_sync,
	reconciliation,
	reconciliation_runs,
	resync_marks,
	reviews,
)
from memora.services.srs.queue import SRSRedisManager
from memora.services.srs.rebuild import rebuild_season_cache
from memora.tests.cards import card
from tests.conftest import clear_keys
from tests.harness.proxy import CuttableProxy
from tests.harness.workers import wait_until
from tests.srs_data import SEASON, insert_trackers, make_season, tracker

PLAYER = "ana@example.com"
PROBE_INTERVAL = 0.2


def queue(player: str = PLAYER) -> dict[str, float]:
	return dict(runtime.redis_client().zrange(keys.queue_key(player, SEASON), 0, -1, withscores=True))


def rows(player: str = PLAYER) -> dict[str, float]:
	runtime.db().rollback()
	found = runtime.db().sql(
		"select question_id, next_review_date from `tabPlayer Memory Tracker` where player = %s and season = %s",
		(player, SEASON),
	)
	return {qid: runtime.to_ts(due) if due else 0.0 for qid, due in found}


def answer(qid: str, correct: bool = True) -> dict:
	return {"question_id": qid, "is_correct": correct, "duration_ms": 3000}


def no_drift(player: str = PLAYER) -> None:
	result = reconciliation.reconcile_user_season(player, SEASON)
	assert result["discrepancies"] == 0, result["corrections"]


# --- 1. the service API is durable -------------------------------------------------------------------


def test_cards_scheduled_through_the_service_api_are_trackers(redis_client):
	make_season()
	now = round(time.time())
	manager = SRSRedisManager()
	assert manager.add_batch(PLAYER, SEASON, {"q1": now - 60, "q2": now + 3600})
	assert manager.add_item(PLAYER, SEASON, "q3", now - 30)
	assert rows() == queue() == {"q1": now - 60, "q2": now + 3600, "q3": now - 30}
	assert tracker(PLAYER, SEASON, "q1")["state"] == "New"
	no_drift()
	# The nightly reconciliation, a rebuild and a lost queue all agree with the caller.
	reconciliation_runs.reconcile_cache_with_database(SEASON)
	rebuild_season_cache(SEASON)
	redis_client.delete(keys.queue_key(PLAYER, SEASON))
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q1", "q3"], True)


def test_scheduling_moves_a_card_and_keeps_its_memory(redis_client):
	make_season()
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q1": now - 60}, state="Review", stability=12.5, reps=4)
	SRSRedisManager().get_due_items_with_rehydration(PLAYER, SEASON)
	assert SRSRedisManager().add_item(PLAYER, SEASON, "q1", now + 86400)
	row = tracker(PLAYER, SEASON, "q1")
	assert (row["state"], float(row["stability"]), row["reps"]) == ("Review", 12.5, 4)
	assert queue() == rows() == {"q1": now + 86400}


def test_a_removed_card_stays_removed(redis_client):
	make_season()
	now = round(time.time())
	SRSRedisManager().add_batch(PLAYER, SEASON, {"q1": now - 60, "q2": now - 30})
	assert SRSRedisManager().remove_item(PLAYER, SEASON, "q1")
	assert tracker(PLAYER, SEASON, "q1") is None
	assert queue() == rows() == {"q2": now - 30}
	reconciliation_runs.reconcile_cache_with_database(SEASON)
	rebuild_season_cache(SEASON)
	assert queue() == {"q2": now - 30}


# --- 2. tracker edits outside a review ---------------------------------------------------------------


def edit(sql: str, *values) -> None:
	"""A tracker edit as Desk, REST or Data Import make it: the row changes and commits, then the
	document events call the same service function."""
	runtime.db().sql(sql, values)
	runtime.db().commit()
	assert SRSRedisManager().sync_queues([(PLAYER, SEASON)], "tracker_edit")


def test_edited_inserted_and_deleted_trackers_reach_a_live_queue(redis_client):
	make_season()
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q1": now - 60, "q2": now - 30})
	assert SRSRedisManager().due_session(PLAYER, SEASON).question_ids == ["q1", "q2"]

	edit(
		"update `tabPlayer Memory Tracker` set next_review_date = %s where question_id = 'q1'",
		runtime.from_ts(now + 10 * 86400),
	)
	insert_trackers(PLAYER, SEASON, {"q3": now - 10})
	edit("delete from `tabPlayer Memory Tracker` where question_id = 'q2'")
	assert SRSRedisManager().due_session(PLAYER, SEASON).question_ids == ["q3"]
	assert queue() == rows() == {"q1": now + 10 * 86400, "q3": now - 10}


def test_an_edit_never_undoes_a_newer_pending_review(redis_client):
	make_season()
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q1": now - 60})
	result = reviews.submit_review_session(PLAYER, SEASON, [answer("q1")])
	answered = result["results"][0]["next_review_ts"]
	edit(
		"update `tabPlayer Memory Tracker` set next_review_date = %s where question_id = 'q1'",
		runtime.from_ts(now + 5 * 86400),
	)
	assert queue() == {"q1": answered}
	assert pending.get_all(PLAYER, SEASON)["q1"]["next_review_ts"] == answered


def test_a_player_without_trackers_sees_a_card_added_in_desk(redis_client):
	make_season()
	manager = SRSRedisManager()
	assert manager.due_session(PLAYER, SEASON).question_ids == []
	assert redis_client.exists(keys.empty_marker_key(PLAYER, SEASON))
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 5})
	manager.sync_queues([(PLAYER, SEASON)], "tracker_edit")
	assert manager.due_session(PLAYER, SEASON).question_ids == ["q1"]


# --- 3. a sync never writes rows older than the queue --------------------------------------------------


def test_a_sync_that_read_its_rows_before_a_settle_refuses_and_reads_again(redis_client):
	make_season()
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q1": now - 60})
	client = runtime.redis_client()
	since = queue_sync.redis_time(client)
	old_rows = queue_sync.schedule_args({"q1": now - 60})
	# Meanwhile an answer is accepted, persisted and cleared from the pending hash.
	result = reviews.submit_review_session(PLAYER, SEASON, [answer("q1")])
	persistence.persist_review_batch(list(pending.get_all(PLAYER, SEASON).values()), PLAYER, SEASON)
	assert pending.get_all(PLAYER, SEASON) == {}
	assert queue_sync.write_players(client, SEASON, since, 3600, [(PLAYER, old_rows)]) == [PLAYER]
	assert queue() == {"q1": result["results"][0]["next_review_ts"]}
	assert queue_sync.sync_players(SEASON, [PLAYER]) == []
	assert queue() == rows()


def test_reviews_persisted_through_the_service_api_reach_a_live_queue(redis_client):
	"""`persist_review_batch` called directly (never through a review session), and a batch written
	again after its card was removed (it brings the row back): the live queue follows the rows."""
	make_season()
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q1": now - 60, "q2": now - 30})
	SRSRedisManager().get_due_items_with_rehydration(PLAYER, SEASON)
	state = {**card("q1", "r-direct", now), "next_review_ts": now + 7 * 86400}
	with runtime.override_settings(idempotency_window=0):
		persistence.persist_review_batch([state], PLAYER, SEASON)
		assert queue() == rows() == {"q1": now + 7 * 86400, "q2": now - 30}
		SRSRedisManager().remove_item(PLAYER, SEASON, "q1")
		assert queue() == rows() == {"q2": now - 30}
		persistence.persist_review_batch([state], PLAYER, SEASON)
	assert queue() == rows() == {"q1": now + 7 * 86400, "q2": now - 30}


# --- 4. safe mode ------------------------------------------------------------------------------------


@pytest.fixture
def redis_behind_proxy(throwaway_redis, monkeypatch):
	"""Memora's data Redis is a throwaway one behind a cuttable proxy: cutting it makes Redis
	unreachable while it keeps its data. RQ stays on the shared Redis."""
	proxy = CuttableProxy("127.0.0.1", throwaway_redis.port)
	monkeypatch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
	monkeypatch.setenv("MEMORA_REDIS_URL", f"redis://127.0.0.1:{proxy.port}/0")
	with runtime.override_settings(safe_mode_probe_interval=PROBE_INTERVAL):
		yield proxy
	proxy.close()


@pytest.mark.fault
@pytest.mark.parametrize("redis_keeps_its_data", [True, False])
def test_a_card_answered_in_safe_mode_is_not_served_again(
	redis_behind_proxy, throwaway_redis, redis_keeps_its_data
):
	make_season()
	now = round(time.time())
	insert_trackers(
		PLAYER, SEASON, {"q1": now - 60, "q2": now - 30}, state="Review", stability=5.0, difficulty=5.0
	)
	assert SRSRedisManager().due_session(PLAYER, SEASON).question_ids == ["q1", "q2"]

	redis_behind_proxy.cut()
	result = reviews.submit_review_session(PLAYER, SEASON, [answer("q1")])
	assert result["safe_mode"]
	assert tracker(PLAYER, SEASON, "q1")["reps"] == 1 and resync_marks.outstanding() == 1
	if not redis_keeps_its_data:
		throwaway_redis.stop()
		throwaway_redis.start()
	redis_behind_proxy.restore()

	def served() -> list[str] | None:
		session = SRSRedisManager().due_session(PLAYER, SEASON)
		return None if session.safe_mode else session.question_ids

	assert wait_until(lambda: served() is not None, timeout=10)
	assert served() == ["q2"]
	assert resync_marks.outstanding() == 0
	assert queue() == rows()


@pytest.mark.fault
def test_a_card_scheduled_while_redis_is_unreachable_is_synced_when_it_is_back(redis_behind_proxy):
	make_season()
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q1": now + 3600})
	SRSRedisManager().get_due_items_with_rehydration(PLAYER, SEASON)
	redis_behind_proxy.cut()
	assert SRSRedisManager().add_item(PLAYER, SEASON, "q2", now - 5)
	assert resync_marks.outstanding() == 1
	redis_behind_proxy.restore()
	assert wait_until(lambda: not SRSRedisManager().due_session(PLAYER, SEASON).safe_mode, timeout=10)
	assert queue() == rows() == {"q1": now + 3600, "q2": now - 5}


# --- 5. cache clears and lost keys ---------------------------------------------------------------------


def test_every_key_memora_writes_survives_frappe_clear_cache(redis_client, workers):
	"""`frappe.clear_cache()` keeps the keys under the persistent_cache_keys prefixes: every Memora key
	of a run through reviews, persistence, reconciliation and metrics must be under one of them."""
	make_season()
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60, "q2": time.time() - 30})
	reviews.submit_review_session(PLAYER, SEASON, [answer("q1")])
	workers("short", "default", "long")
	assert wait_until(lambda: tracker(PLAYER, SEASON, "q1")["reps"] == 1)
	reconciliation_runs.reconcile_cache_with_database(SEASON)
	prefix = runtime.key_prefix()
	names = {key.removeprefix(prefix) for key in redis_client.scan_iter(match=prefix + "*")}
	assert names
	assert all(name.startswith(tuple(hooks.persistent_cache_keys)) for name in names), names


def test_a_second_answer_after_the_keys_were_wiped_counts_the_first(redis_client, workers):
	"""No worker runs: the first answer is only in the pending hash and its queued job. The keys are
	wiped (a cache clear, a restart without persistence); the second answer must still build on the
	first, and MariaDB ends with both."""
	make_season()
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60})
	first = reviews.submit_review_session(PLAYER, SEASON, [answer("q1", correct=False)])
	clear_keys()
	second = reviews.submit_review_session(PLAYER, SEASON, [answer("q1")])
	assert second["results"][0]["review_id"] != first["results"][0]["review_id"]
	workers("short", "default", "long")
	assert wait_until(lambda: tracker(PLAYER, SEASON, "q1")["reps"] == 2)
	assert wait_until(lambda: pending.get_all(PLAYER, SEASON) == {})
	assert tracker(PLAYER, SEASON, "q1")["last_review_id"] == second["results"][0]["review_id"]
	assert queue() == rows()
