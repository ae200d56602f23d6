"""SRSRedisManager on the real Redis and MariaDB: ordering, TTLs, key shape, rehydration, empty players."""

import logging
import threading
import time

import pytest

from memora import runtime
from memora.exceptions import ValidationError
from memora.services.srs import keys, pending, trackers
from memora.services.srs.queue import SRSRedisManager
from memora.services.srs.queue_sync import EMPTY_MARKER_TTL
from tests.srs_data import SEASON, insert_trackers

PLAYER = "ana@example.com"


def rehydration_events(caplog) -> list:
	return [r for r in caplog.records if '"event": "srs.rehydrated"' in r.getMessage()]


def test_due_items_earliest_first_ties_by_question_id_and_limit(redis_client):
	now = time.time()
	manager = SRSRedisManager()
	assert manager.add_batch(
		PLAYER,
		SEASON,
		{"q-c": now - 50, "q-b": now - 100, "q-a": now - 100, "q-d": now - 10, "q-future": now + 3600},
	)
	assert manager.get_due_items(PLAYER, SEASON, limit=10) == ["q-a", "q-b", "q-c", "q-d"]
	assert manager.get_due_items(PLAYER, SEASON, limit=2) == ["q-a", "q-b"]
	stats = manager.get_cache_stats(PLAYER, SEASON)
	assert (stats["total_items"], stats["due_items"]) == (5, 4) and stats["memory_usage_bytes"] > 0


def test_keys_are_hash_tagged_namespaced_and_expire(redis_client):
	manager = SRSRedisManager()
	manager.add_item(PLAYER, SEASON, "q1", time.time())
	key = keys.queue_key(PLAYER, SEASON)
	assert key.startswith(runtime.key_prefix()) and "{" + PLAYER + "}" in key
	assert 29 * 86400 < redis_client.ttl(key) <= 30 * 86400
	assert redis_client.sismember(keys.season_player_set(SEASON, PLAYER), PLAYER)
	manager.add_item(PLAYER, SEASON, "q2", time.time(), ttl=60)
	assert 0 < redis_client.ttl(key) <= 60  # a custom TTL, not "no expiry" (-1)


def test_remove_and_clear_keep_pending_reviews(redis_client):
	manager = SRSRedisManager()
	manager.add_batch(PLAYER, SEASON, {"q1": 1.0, "q2": 2.0})
	assert manager.remove_item(PLAYER, SEASON, "q1")
	assert manager.get_due_items(PLAYER, SEASON) == ["q2"]
	pipe = redis_client.pipeline()
	pending.record(pipe, PLAYER, SEASON, [{"question_id": "q2", "review_id": "r", "next_review_ts": 5.0}])
	pipe.execute()
	assert manager.clear_user_cache(PLAYER, SEASON)
	assert not redis_client.exists(keys.queue_key(PLAYER, SEASON))
	assert not redis_client.sismember(keys.season_player_set(SEASON, PLAYER), PLAYER)
	assert pending.get_all(PLAYER, SEASON)["q2"]["review_id"] == "r"


def test_rehydration_loads_mariadb_with_pending_states_on_top(redis_client, caplog):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"q1": now - 300, "q2": now - 200, "q3": now + 3600, "q4": None})
	insert_trackers("other@example.com", SEASON, {"q1": now - 999})
	# q2 was answered a moment ago; MariaDB does not have it yet.
	pipe = redis_client.pipeline()
	pending.record(
		pipe, PLAYER, SEASON, [{"question_id": "q2", "review_id": "r", "next_review_ts": now + 86400}]
	)
	pipe.execute()

	caplog.set_level(logging.INFO, logger="memora")
	manager = SRSRedisManager()
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q4", "q1"], True)
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q4", "q1"], False)
	assert len(rehydration_events(caplog)) == 1
	assert redis_client.zscore(keys.queue_key(PLAYER, SEASON), "q2") == pytest.approx(now + 86400)


def test_rehydration_happens_once_under_twenty_concurrent_callers(caplog):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {f"q{i:02d}": now - i for i in range(40)})
	caplog.set_level(logging.INFO, logger="memora")
	barrier = threading.Barrier(20)
	results = []

	def call():
		manager = SRSRedisManager()
		barrier.wait()
		results.append(manager.get_due_items_with_rehydration(PLAYER, SEASON, limit=5))
		runtime.db().close()

	threads = [threading.Thread(target=call) for _ in range(20)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join(timeout=30)
	assert len(results) == 20
	assert sum(rebuilt for _, rebuilt in results) == 1
	assert len(rehydration_events(caplog)) == 1
	assert {tuple(items) for items, _ in results} == {("q39", "q38", "q37", "q36", "q35")}


def test_player_without_trackers_does_not_ask_mariadb_every_time(redis_client):
	manager = SRSRedisManager()
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == ([], True)
	marker = keys.empty_marker_key(PLAYER, SEASON)
	assert 0 < redis_client.ttl(marker) <= EMPTY_MARKER_TTL
	# A row that appears behind the cache's back is not seen until the marker expires: proof that
	# the second call was answered by Redis alone.
	insert_trackers(PLAYER, SEASON, {"q1": time.time() - 60})
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == ([], False)
	redis_client.delete(marker)
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q1"], True)


def test_writing_to_a_cold_queue_loads_it_first(redis_client):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"q1": now - 60, "q2": now - 30})
	manager = SRSRedisManager()
	assert manager.add_item(PLAYER, SEASON, "q-new", now - 10)
	assert manager.get_due_items(PLAYER, SEASON) == ["q1", "q2", "q-new"]


def test_empty_player_gets_a_queue_when_a_card_is_added(redis_client):
	manager = SRSRedisManager()
	manager.get_due_items_with_rehydration(PLAYER, SEASON)
	assert manager.add_item(PLAYER, SEASON, "q1", time.time() - 1)
	assert not redis_client.exists(keys.empty_marker_key(PLAYER, SEASON))
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q1"], False)


def test_scores_are_absolute_times_whatever_the_system_zone(monkeypatch, redis_client):
	monkeypatch.setenv("MEMORA_TIME_ZONE", "Asia/Kolkata")
	now = round(time.time())
	insert_trackers(PLAYER, SEASON, {"q-past": now - 4 * 3600, "q-soon": now + 4 * 3600})
	manager = SRSRedisManager()
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q-past"], True)
	queue = keys.queue_key(PLAYER, SEASON)
	assert redis_client.zscore(queue, "q-soon") == now + 4 * 3600
	assert trackers.due_question_ids(PLAYER, SEASON, time.time(), 10) == ["q-past"]


def test_invalid_input_is_refused_by_field():
	manager = SRSRedisManager()
	with pytest.raises(ValueError, match="season"):
		manager.get_due_items(PLAYER, "bad'; drop table x")
	with pytest.raises(ValueError, match="limit"):
		manager.get_due_items(PLAYER, SEASON, limit=-1)
	with pytest.raises(ValueError, match="next_review_ts"):
		manager.add_item(PLAYER, SEASON, "q1", float("nan"))


def test_safe_mode_query_reads_the_covering_index_only(db):
	insert_trackers(PLAYER, SEASON, {f"q{i}": time.time() + i for i in range(50)})
	for count in (False, True):
		args = (PLAYER, SEASON, runtime.now()) if count else (PLAYER, SEASON, runtime.now(), 20)
		plan = db.sql("explain " + trackers.due_sql(count=count), args, as_dict=True)[0]
		assert plan["key"] == "player_season_due"
		assert "Using index" in plan["Extra"] and "filesort" not in plan["Extra"]


@pytest.mark.parametrize(
	"call, field",
	[
		(lambda m: m.add_batch(PLAYER, SEASON, ["q1"]), "items"),
		(lambda m: m.add_batch(PLAYER, SEASON, {"": 1.0}), "question_id"),
		(lambda m: m.add_batch(PLAYER, SEASON, {"q1": "soon"}), "next_review_ts"),
		(lambda m: m.add_batch(PLAYER, SEASON, {"q1": 1.0}, ttl=0), "ttl"),
		(lambda m: m.add_item(PLAYER, SEASON, "q1", 1.0, ttl=0), "ttl"),
		(lambda m: m.remove_item(PLAYER, SEASON, ""), "question_id"),
		(lambda m: m.get_due_items(PLAYER, SEASON, limit=-1), "limit"),
		(lambda m: m.due_session(PLAYER, SEASON, limit=10**6), "limit"),
		(lambda m: m.get_due_items("", SEASON), "user"),
		(lambda m: m.get_due_items(PLAYER, "Bad;Season"), "season"),
	],
)
def test_bad_input_is_refused_naming_its_field_and_writes_nothing(call, field, db):
	with pytest.raises(ValidationError) as refused:
		call(SRSRedisManager())
	assert refused.value.field == field and refused.value.message
	assert db.sql("select count(*) from `tabPlayer Memory Tracker`")[0][0] == 0
