"""SRSRedisManager on the real Redis and MariaDB: ordering, TTLs, key shape, rehydration, empty players."""

import logging
import threading
import time

import pytest

from memora import runtime
from memora.exceptions import NotAllowed, ValidationError
from memora.services import metrics
from memora.services.srs import keys, pending, persistence, trackers
from memora.services.srs.queue import MAX_LIMIT, QUEUE_CACHE, DueItems, SRSRedisManager
from memora.services.srs.queue_sync import EMPTY_MARKER_TTL
from memora.services.tables import QUEUE_RESYNC
from memora.tests.cards import card
from tests.conftest import point_data_redis_at_nothing
from tests.harness.figures import Moved
from tests.harness.logs import logged
from tests.persistence_data import RowLock, forget_jobs
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


def test_default_and_boundary_limits(redis_client):
	manager = SRSRedisManager()
	manager.add_batch(PLAYER, SEASON, {f"q{i:02d}": 1.0 + i for i in range(25)})
	assert manager.get_due_items(PLAYER, SEASON) == [f"q{i:02d}" for i in range(20)]
	assert len(manager.get_due_items_with_rehydration(PLAYER, SEASON)[0]) == 20
	assert len(manager.due_session(PLAYER, SEASON).question_ids) == 20
	assert manager.get_due_items(PLAYER, SEASON, limit=0) == []
	assert manager.due_session(PLAYER, SEASON, limit=0).question_ids == []
	assert manager.is_available() is True
	with pytest.raises(ValidationError, match="limit"):
		manager.due_session(PLAYER, SEASON, limit=-1)
	assert len(manager.get_due_items(PLAYER, SEASON, limit=MAX_LIMIT)) == 25
	with pytest.raises(ValidationError, match="limit"):
		manager.get_due_items(PLAYER, SEASON, limit=MAX_LIMIT + 1)


def test_stats_of_a_player_without_a_queue_are_zero(redis_client):
	assert SRSRedisManager().get_cache_stats(PLAYER, SEASON) == {
		"total_items": 0,
		"due_items": 0,
		"memory_usage_bytes": 0,
	}


def test_while_redis_is_unreachable_reads_come_from_mariadb(unreachable_redis, db, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"q3": now - 100, "q1": now - 300, "q2": now - 300, "q9": now + 3600})
	insert_trackers("bo@example.com", SEASON, {"q0": now - 900})
	insert_trackers(PLAYER, "2031-2032", {"q0": now - 900})
	manager = SRSRedisManager()
	assert manager.get_due_items(PLAYER, SEASON, limit=2) == ["q1", "q2"]
	assert manager.get_due_items(PLAYER, SEASON) == ["q1", "q2", "q3"]
	assert manager.get_cache_stats(PLAYER, SEASON) == {
		"total_items": 4,
		"due_items": 3,
		"memory_usage_bytes": 0,
	}
	assert manager.due_session(PLAYER, SEASON, limit=2) == DueItems(["q1", "q2"], 3, False, True)
	assert manager.get_due_items_with_rehydration(PLAYER, SEASON) == (["q1", "q2", "q3"], False)
	assert manager.is_available() is False
	assert manager.pending_states(PLAYER, SEASON) is None
	assert manager.clear_user_cache(PLAYER, SEASON) is False
	(entered,) = logged(caplog, "srs.safe_mode.entered")
	assert "Connection refused" in entered["error"] and entered["level"] == "WARNING"


def test_while_redis_is_unreachable_writes_land_and_their_queues_are_marked(unreachable_redis, db):
	manager = SRSRedisManager()
	assert manager.add_batch(PLAYER, SEASON, {"q1": 1.0, "q2": 2.0}) is True
	assert manager.remove_item(PLAYER, SEASON, "q1") is True
	assert sorted(trackers.card_states(PLAYER, SEASON, ["q1", "q2"])) == ["q2"]
	marks = db.sql(f"select player, season, reason from {QUEUE_RESYNC} order by reason")
	assert [tuple(m) for m in marks] == [(PLAYER, SEASON, "add_batch"), (PLAYER, SEASON, "remove_item")]


def test_an_empty_schedule_changes_nothing_and_succeeds(redis_client, db):
	assert SRSRedisManager().add_batch(PLAYER, SEASON, {}) is True
	assert not redis_client.exists(keys.queue_key(PLAYER, SEASON))


def test_a_refused_tracker_write_is_logged_and_answers_false(db, short_lock_waits, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	insert_trackers(PLAYER, SEASON, {"q1": 1.0})
	manager = SRSRedisManager()
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		assert manager.add_batch(PLAYER, SEASON, {"q1": 5.0}) is False
		assert manager.remove_item(PLAYER, SEASON, "q1") is False
	finally:
		lock.release()
	for event in ("srs.add_batch_failed", "srs.remove_item_failed"):
		(line,) = logged(caplog, event)
		assert {k: line[k] for k in ("player", "season", "level")} == (
			{"player": PLAYER, "season": SEASON, "level": "WARNING"}
		)
		assert "Lock wait timeout" in line["error"]
	assert trackers.card_states(PLAYER, SEASON, ["q1"])["q1"]["next_review_ts"] == 1.0


def test_clearing_a_queue_drops_its_marker_and_lock(redis_client):
	manager = SRSRedisManager()
	assert manager.due_session(PLAYER, SEASON).question_ids == []  # no trackers: the empty marker
	redis_client.set(keys.lock_key(PLAYER, SEASON), "someone")
	assert redis_client.exists(keys.empty_marker_key(PLAYER, SEASON))
	assert manager.clear_user_cache(PLAYER, SEASON) is True
	assert redis_client.exists(keys.empty_marker_key(PLAYER, SEASON), keys.lock_key(PLAYER, SEASON)) == 0


def test_items_must_be_a_mapping():
	with pytest.raises(ValidationError) as refused:
		SRSRedisManager().add_batch(PLAYER, SEASON, ["q1"])
	assert refused.value.message == "must map question ids to next review times"


def test_a_ttl_of_one_second_is_the_smallest(redis_client):
	assert SRSRedisManager().add_batch(PLAYER, SEASON, {"q1": 1.0}, ttl=1)
	assert redis_client.pttl(keys.queue_key(PLAYER, SEASON)) in range(1, 1001)


def test_a_cold_queue_is_rebuilt_once_and_the_lookups_counted(redis_client):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"q1": now - 10, "q2": now + 3600})
	manager = SRSRedisManager()
	moved = Moved()
	assert manager.due_session(PLAYER, SEASON) == DueItems(["q1"], 1, True, False)
	assert manager.due_session(PLAYER, SEASON) == DueItems(["q1"], 1, False, False)
	assert moved.after().lookups(QUEUE_CACHE) == (1, 1)  # the miss, then the hit


def test_a_rebuild_that_never_lands_is_answered_from_mariadb(redis_client):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {"q1": now - 10, "q2": now + 3600})
	redis_client.set(keys.lock_key(PLAYER, SEASON), "a rebuilder that died", px=200)
	assert SRSRedisManager().due_session(PLAYER, SEASON) == DueItems(["q1"], 1, False, False)
	assert not redis_client.exists(keys.queue_key(PLAYER, SEASON))


def test_safe_mode_reads_count_as_misses(db, monkeypatch):
	now = time.time()
	insert_trackers(PLAYER, SEASON, {f"q{i:02d}": now - 100 + i for i in range(25)})
	moved = Moved()
	real = runtime.redis_url()
	point_data_redis_at_nothing(monkeypatch)
	manager = SRSRedisManager()
	assert manager.due_session(PLAYER, SEASON) == DueItems([f"q{i:02d}" for i in range(20)], 25, False, True)
	assert manager.due_session(PLAYER, SEASON, limit=0) == DueItems([], 25, False, True)
	monkeypatch.setenv("MEMORA_REDIS_URL", real)
	metrics.flush()  # what the unreachable Redis could not take
	assert moved.after().lookups(QUEUE_CACHE) == (0, 2)


def test_queues_redis_cannot_be_told_of_are_marked_season_by_season(unreachable_redis, db):
	queues = [(PLAYER, SEASON), ("bo@example.com", SEASON), (PLAYER, "2031-2032")]
	assert SRSRedisManager().sync_queues(queues, "test_reason") is False
	marks = db.sql(f"select player, season, reason from {QUEUE_RESYNC} order by season, player")
	assert [tuple(m) for m in marks] == [
		(PLAYER, SEASON, "test_reason"),
		("bo@example.com", SEASON, "test_reason"),
		(PLAYER, "2031-2032", "test_reason"),
	]


def test_in_safe_mode_a_review_still_queued_is_the_cards_newest_state(unreachable_redis, db):
	now = time.time()
	stored = [card(qid, f"stored-{qid}", now - 100) for qid in ("q1", "q2", "q3")]
	persistence.persist_review_batch(stored, PLAYER, SEASON)
	queued = [
		card("q1", "queued-newer", now - 50),
		card("q2", "queued-older", now - 200),
		card("q3", "queued-not-asked", now - 50),
		card("q4", "queued-first-review", now - 50),
	]
	persistence.queue_review_batch(queued, PLAYER, SEASON)
	seen = {}

	def compute(states: dict) -> list:
		seen.update(states)
		return []

	assert SRSRedisManager().apply_reviews(PLAYER, SEASON, ["q1", "q2", "q4", "q9"], compute) == ([], True)
	assert {qid: state["review_id"] for qid, state in seen.items()} == {
		"q1": "queued-newer",
		"q2": "stored-q2",
		"q4": "queued-first-review",
	}
	forget_jobs()


def answered(qid: str, next_ts: float) -> list[dict]:
	return [card(qid, f"r-{qid}-{next_ts}", time.time(), next_review_ts=next_ts)]


def test_a_write_starts_again_when_the_queue_or_its_pending_states_change_under_it(redis_client):
	manager = SRSRedisManager()
	manager.add_batch(PLAYER, SEASON, {"q1": 1.0, "q2": 2.0})
	for meddle in (
		lambda: redis_client.zadd(keys.queue_key(PLAYER, SEASON), {"q2": 3.0}),
		lambda: redis_client.hset(keys.pending_key(PLAYER, SEASON), "q2", "{}"),
	):
		calls = []

		def compute(states: dict, meddle=meddle, calls=calls) -> list[dict]:
			calls.append(states)
			if len(calls) == 1:
				meddle()  # another writer, between this write's read and its MULTI
			return answered("q1", 50.0 + len(calls))

		manager.apply_reviews(PLAYER, SEASON, ["q1"], compute)
		assert len(calls) == 2
		assert redis_client.zscore(keys.queue_key(PLAYER, SEASON), "q1") == 52.0


def test_a_queue_that_keeps_changing_is_refused_after_ten_tries(redis_client):
	manager = SRSRedisManager()
	manager.add_batch(PLAYER, SEASON, {"q1": 1.0})
	calls = []

	def compute(states: dict) -> list[dict]:
		calls.append(states)
		redis_client.zadd(keys.queue_key(PLAYER, SEASON), {"q1": 100.0 + len(calls)})  # a new score each time
		return answered("q1", 99.0)

	with pytest.raises(NotAllowed) as refused:
		manager.apply_reviews(PLAYER, SEASON, ["q1"], compute)
	assert str(refused.value) == "This review queue is changing too fast to update; try again."
	assert len(calls) == 10


def test_a_first_answer_of_a_player_without_cards_makes_their_queue(redis_client):
	manager = SRSRedisManager()
	assert manager.due_session(PLAYER, SEASON).question_ids == []  # only the empty marker
	new, safe_mode = manager.apply_reviews(PLAYER, SEASON, ["q1"], lambda states: answered("q1", 7.0))
	assert (len(new), safe_mode) == (1, False)
	assert redis_client.zscore(keys.queue_key(PLAYER, SEASON), "q1") == 7.0
	assert not redis_client.exists(keys.empty_marker_key(PLAYER, SEASON))
	assert redis_client.sismember(keys.season_player_set(SEASON, PLAYER), PLAYER)


def test_a_write_refreshes_the_ttl_it_is_given(redis_client):
	manager = SRSRedisManager()
	manager.add_batch(PLAYER, SEASON, {"q1": 1.0})
	manager.apply_reviews(PLAYER, SEASON, ["q1"], lambda states: answered("q1", 8.0), ttl=60)
	assert 0 < redis_client.ttl(keys.queue_key(PLAYER, SEASON)) <= 60
	manager.apply_reviews(PLAYER, SEASON, ["q1"], lambda states: answered("q1", 9.0))
	assert redis_client.ttl(keys.queue_key(PLAYER, SEASON)) > 29 * 86400


def test_redis_that_answers_is_available(redis_client):
	assert SRSRedisManager().is_available() is True
