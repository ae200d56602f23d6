"""UserMemoryService on real MariaDB and Redis: cache-first reads, invalidation, degraded reads when
MariaDB is unreachable or slow, retries that never double count, the GDPR erase, bulk reads, stats."""

import json
import logging
import threading
import time

import pymysql
import pytest

from memora import runtime, schema
from memora.exceptions import MemoryServiceError, MemoryServiceException
from memora.services.fan_memory import cache, decay, engagement
from memora.services.user_memory_service import get_user_memory_service
from tests.harness.proxy import CuttableProxy

service = get_user_memory_service()


def save(fan: str, creator: str, kind: str = "message", **fields) -> dict:
	if kind == "message":
		fields.setdefault("content", "Hello there, how was the shoot?")
	if kind in ("purchase", "tip"):
		fields.setdefault("amount", 12.5)
	return service.save_interaction({"fan_id": fan, "creator_id": creator, "type": kind, **fields})


def memory_row(db, fan: str, creator: str) -> dict | None:
	rows = db.sql(
		"select * from `tabFan Memory` where fan_id = %s and creator_id = %s", (fan, creator), as_dict=True
	)
	return rows[0] if rows else None


def interactions(db, fan: str, creator: str) -> int:
	db.rollback()
	return db.sql(
		"select count(*) from `tabInteraction` where fan_id = %s and creator_id = %s", (fan, creator)
	)[0][0]


def events_logged(caplog, name: str) -> list[dict]:
	records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "memora"]
	return [r for r in records if r["event"] == name]


# --- cache ------------------------------------------------------------------------------------


def test_context_is_served_from_cache_until_a_save_invalidates_it(db, redis_client):
	save("fan-1", "creator-1")
	cache.drain()
	first = service.get_memory_context("fan-1", "creator-1")
	assert first["engagement_metrics"]["message_count"] == 1 and not first["degraded"]
	assert redis_client.get(cache.context_key("fan-1", "creator-1")).split("|", 1)[1]

	# Change the row behind the service's back: a cache hit does not see it.
	db.sql("update `tabFan Memory` set message_count = 41 where fan_id = 'fan-1'")
	db.commit()
	assert service.get_memory_context("fan-1", "creator-1") == first

	save("fan-1", "creator-1", "like")
	cache.drain()
	fresh = service.get_memory_context("fan-1", "creator-1")
	assert fresh["engagement_metrics"]["message_count"] == 41
	assert fresh["engagement_metrics"]["like_count"] == 1


def test_unknown_fan_gets_defaults_until_the_first_save(redis_client):
	context = service.get_memory_context("new-fan", "creator-1")
	assert context["recent_messages"] == [] and context["last_interaction"] is None
	assert context["engagement_metrics"]["engagement_score"] == 0.5 and not context["degraded"]
	assert redis_client.get(cache.context_key("new-fan", "creator-1")).startswith("0|")

	save("new-fan", "creator-1", content="First message!")
	cache.drain()
	context = service.get_memory_context("new-fan", "creator-1")
	assert [m["content"] for m in context["recent_messages"]] == ["First message!"]


def test_ids_are_case_insensitive_like_the_database(redis_client):
	save("Fan-X", "Creator-1")
	cache.drain()
	assert service.get_memory_context("fan-x", "creator-1")["engagement_metrics"]["message_count"] == 1
	save("FAN-x", "creator-1", "like")
	cache.drain()
	assert service.get_memory_context("Fan-X", "CREATOR-1")["engagement_metrics"]["total_interactions"] == 2
	redis_client.delete(cache.context_key("fan-x", "creator-1"))
	both = service.get_memories_for_fans(["fan-x", "FAN-X"], "creator-1")
	assert [len(c["recent_messages"]) for c in both.values()] == [1, 1]


def test_a_cached_copy_never_replaces_a_newer_one(redis_client):
	key = cache.context_key("fan-v", "creator-v")
	cache.put_many(redis_client, [(key, 10, "new")], ttl=60)
	cache.put_many(redis_client, [(key, 5, "stale")], ttl=60)
	assert cache.get(redis_client, key) == "new"
	cache.put_many(redis_client, [(key, 20, "")], ttl=60)  # a save's tombstone
	assert cache.get(redis_client, key) is None
	cache.put_many(redis_client, [(key, 15, "read before the save")], ttl=60)
	assert cache.get(redis_client, key) is None
	cache.put_many(redis_client, [(key, 20, "read after the save")], ttl=60)
	assert cache.get(redis_client, key) == "read after the save"


def test_cache_writes_survive_a_redis_that_forgot_the_script(throwaway_redis):
	import redis

	client = redis.Redis.from_url(throwaway_redis.url, decode_responses=True)
	cache.put_many(client, [("k", 1, "a")], ttl=60)
	client.script_flush()
	cache.put_many(client, [("k", 2, "b")], ttl=60)
	assert cache.get(client, "k") == "b"


def test_recent_messages_are_the_latest_in_order():
	start = time.time() - 3600
	for i in range(25):
		save("fan-m", "creator-1", content=f"message {i}", timestamp=start + i)
		save("fan-m", "creator-1", "view", timestamp=start + i)
	with runtime.override_settings(recent_messages_limit=5):
		messages = service.get_memory_context("fan-m", "creator-1")["recent_messages"]
	assert [m["content"] for m in messages] == [f"message {i}" for i in range(20, 25)]


def test_engagement_score_is_cached_rises_with_activity_and_decays(redis_client, monkeypatch):
	assert service.get_engagement_score("fan-e", "creator-1") == 0.5
	key = cache.engagement_key("fan-e", "creator-1")
	assert redis_client.get(key) == "0|0.5"

	save("fan-e", "creator-1", "purchase", amount=30)
	cache.drain()
	one = service.get_engagement_score("fan-e", "creator-1")
	for _ in range(5):
		save("fan-e", "creator-1")
	cache.drain()
	more = service.get_engagement_score("fan-e", "creator-1")
	assert 0.5 < one < more < 1

	later = time.time() + 60 * 86400
	monkeypatch.setattr(runtime, "now_ts", lambda: later)
	redis_client.delete(key)
	assert service.get_engagement_score("fan-e", "creator-1") < 0.5


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.fault
def test_context_degrades_when_mariadb_is_unreachable(mariadb_proxy, monkeypatch, redis_client):
	save("fan-d", "creator-1")
	cache.drain()
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	mariadb_proxy.cut()
	started = time.monotonic()
	context = service.get_memory_context("fan-d", "creator-1")
	# Refused connections fail the read at once: it is not left to the connect timeout.
	assert time.monotonic() - started < runtime.db_config()["connect_timeout"]
	assert context["degraded"] and context["recent_messages"] == []
	assert context["engagement_metrics"]["engagement_score"] == 0.5
	assert cache.get(redis_client, cache.context_key("fan-d", "creator-1")) is None
	assert service.get_engagement_score("fan-d", "creator-1") == 0.5

	mariadb_proxy.restore()
	context = service.get_memory_context("fan-d", "creator-1")
	assert not context["degraded"] and context["engagement_metrics"]["message_count"] == 1
	runtime.db().close()


@pytest.mark.fault
def test_save_retries_then_fails_cleanly_when_mariadb_is_unreachable(db, mariadb_proxy, monkeypatch, caplog):
	caplog.set_level(logging.DEBUG, logger="memora")
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	mariadb_proxy.cut()
	with pytest.raises(MemoryServiceException) as caught:
		save("fan-d", "creator-1", event_id="evt-down")
	assert caught.value.type is MemoryServiceError.DATABASE_ERROR
	assert len(events_logged(caplog, "memory.retry")) == 2
	failed = events_logged(caplog, "memory.save_interaction.failed")
	assert failed[0]["error_type"] == "DATABASE_ERROR" and "duration_ms" in failed[0]
	monkeypatch.undo()
	assert interactions(runtime.db(), "fan-d", "creator-1") == 0


def lock_fan_memory_table():
	"""Another session holding a write lock on `tabFan Memory`: every read of it waits."""
	runtime.db().rollback()  # our own open transaction would hold a metadata lock on the table
	conn = pymysql.connect(**{**runtime.db_config(), "autocommit": True})
	with conn.cursor() as cursor:
		cursor.execute("set session lock_wait_timeout = 10")
		cursor.execute("lock tables `tabFan Memory` write")
	return conn


def test_slow_steps_time_out_reads_degrade_and_writes_leave_nothing(db):
	save("fan-t", "creator-1", content="before the lock")
	cache.drain()
	locker = lock_fan_memory_table()
	try:
		with runtime.override_settings(profile_timeout=0.2, recent_messages_timeout=0.2):
			started = time.monotonic()
			context = service.get_memory_context("fan-t", "creator-1")
			# Without their 0.2 s limits the reads would wait for the lock (a day, MariaDB's default
			# lock_wait_timeout): 10 s is a wide margin that still proves the limits fired.
			assert time.monotonic() - started < 10
			assert context["degraded"]
			assert context["engagement_metrics"]["engagement_score"] == 0.5
			# The step that did not time out still contributes.
			assert [m["content"] for m in context["recent_messages"]] == ["before the lock"]

			with pytest.raises(MemoryServiceException) as caught:
				save("fan-t", "creator-1", content="during the lock")
			assert caught.value.type is MemoryServiceError.TIMEOUT
	finally:
		with locker.cursor() as cursor:
			cursor.execute("unlock tables")
		locker.close()
	assert interactions(db, "fan-t", "creator-1") == 1
	assert memory_row(db, "fan-t", "creator-1")["message_count"] == 1


class StatementDroppingProxy(CuttableProxy):
	"""Cuts every connection once, when a client sends a statement containing `marker`: either
	after the server got it, with its reply held back (the server runs it, the client never hears
	back), or without forwarding it at all."""

	def __init__(self, target_host: str, target_port: int) -> None:
		super().__init__(target_host, target_port)
		self.marker: bytes | None = None
		self.forward = True
		self.muted: set = set()

	def arm(self, marker: bytes, forward: bool) -> None:
		self.marker, self.forward = marker, forward

	def _pipe(self, source, sink) -> None:
		from_client = source.getsockname()[1] == self.port
		try:
			while data := source.recv(65536):
				if sink in self.muted:
					continue
				if from_client and self.marker is not None and self.marker in data:
					self.marker = None
					self.muted.add(source)
					if self.forward:
						sink.sendall(data)
						time.sleep(0.1)  # the server runs it; its reply is dropped above
					self.cut()
					self.restore()
					return
				sink.sendall(data)
		except OSError:
			pass
		finally:
			self._drop(source, sink)


@pytest.fixture
def dropping_proxy(monkeypatch):
	config = runtime.db_config()
	proxy = StatementDroppingProxy(config["host"], config["port"])
	monkeypatch.setenv("MEMORA_DB_PORT", str(proxy.port))
	yield proxy
	runtime.db().close()
	proxy.close()


def test_retry_after_a_lost_commit_acknowledgement_counts_once(dropping_proxy, caplog):
	caplog.set_level(logging.DEBUG, logger="memora")
	dropping_proxy.arm(b"\x03COMMIT", forward=True)
	result = save("fan-r", "creator-1", event_id="evt-commit")
	# The first attempt committed; the retry found the event stored and did not count it again.
	assert result["duplicate"]
	assert len(events_logged(caplog, "memory.retry")) == 1
	database = runtime.db()
	assert interactions(database, "fan-r", "creator-1") == 1
	assert memory_row(database, "fan-r", "creator-1")["message_count"] == 1


def test_retry_after_a_connection_lost_mid_save_counts_once(dropping_proxy, caplog):
	save("fan-r", "creator-1")
	caplog.set_level(logging.DEBUG, logger="memora")
	dropping_proxy.arm(b"update `tabFan Memory`", forward=False)
	result = save("fan-r", "creator-1", "tip", amount=5, event_id="evt-mid")
	assert not result["duplicate"]
	assert len(events_logged(caplog, "memory.retry")) == 1
	database = runtime.db()
	row = memory_row(database, "fan-r", "creator-1")
	assert (row["message_count"], row["tip_count"], float(row["total_spent"])) == (1, 1, 5.0)
	assert interactions(database, "fan-r", "creator-1") == 2
	assert save("fan-r", "creator-1", "tip", amount=5, event_id="evt-mid")["duplicate"]


def test_concurrent_saves_of_a_new_pair_all_count(db):
	errors = []

	def worker(n: int) -> None:
		try:
			for i in range(3):
				save("fan-c", "creator-1", content=f"thread {n} message {i}")
		except Exception as e:
			errors.append(e)
		finally:
			runtime.db().close()

	threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join()
	assert errors == []
	db.rollback()
	assert memory_row(db, "fan-c", "creator-1")["message_count"] == 24
	assert interactions(db, "fan-c", "creator-1") == 24


@pytest.mark.fault
def test_redis_down_reads_come_from_mariadb_and_saves_still_work(throwaway_redis, monkeypatch, caplog, db):
	caplog.set_level(logging.DEBUG, logger="memora")
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	save("fan-x", "creator-1")
	throwaway_redis.stop()

	context = service.get_memory_context("fan-x", "creator-1")
	assert not context["degraded"] and context["engagement_metrics"]["message_count"] == 1
	assert events_logged(caplog, "memory.cache_read_failed")

	save("fan-x", "creator-1", "like")
	cache.drain()
	assert events_logged(caplog, "memory.cache_invalidation_failed")
	assert memory_row(db, "fan-x", "creator-1")["like_count"] == 1

	with pytest.raises(MemoryServiceException) as caught:
		service.clear_memory("fan-x", "creator-1")
	assert caught.value.type is MemoryServiceError.CACHE_ERROR
	assert memory_row(db, "fan-x", "creator-1") is None


# --- GDPR erase -------------------------------------------------------------------------------

TARGET = ("gdpr-fan", "gdpr-creator")
OTHERS = [("gdpr-fan", "other-creator"), ("other-fan", "gdpr-creator")]


def marker(pair: tuple[str, str]) -> str:
	return f"secret-{pair[0]}-{pair[1]}"


def remember(pair: tuple[str, str], db) -> None:
	fan, creator = pair
	save(fan, creator, content=f"My {marker(pair)} is safe with you?", metadata={"topic": marker(pair)})
	save(fan, creator, "purchase", amount=20, metadata={"category": marker(pair)})
	db.sql(
		"insert into `tabSRS Audit Log` (name, operation, status, fan_id, creator_id, details) "
		"values (%s, 'memory', 'Success', %s, %s, %s)",
		(marker(pair), fan, creator, json.dumps({"note": marker(pair)})),
	)
	db.commit()
	cache.drain()
	service.get_memory_context(fan, creator)
	service.get_engagement_score(fan, creator)


def every_row(db) -> list[str]:
	db.rollback()
	return [
		json.dumps(row, default=str)
		for doctype in schema.table_doctypes()
		for row in db.sql(f"select * from `{schema.table_name(doctype)}`", as_dict=True)
	]


def every_entry(redis_client) -> dict[str, tuple[str | None, int]]:
	"""Every string key of this run (the cache entries) with its value and TTL. The other keys are the
	metrics hashes, which hold operation and cache names with counts, never fan data."""
	return {
		key: (redis_client.get(key), redis_client.ttl(key))
		for key in redis_client.scan_iter(match=runtime.key_prefix() + "*", count=1000, _type="string")
	}


def test_gdpr_erase_removes_every_row_and_cache_entry_of_the_pair_only(db, redis_client, caplog):
	caplog.set_level(logging.DEBUG, logger="memora")
	for pair in [TARGET, *OTHERS]:
		remember(pair, db)
	rows_before = every_row(db)

	result = service.clear_memory(*TARGET)
	assert result["deleted"] == {"Interaction": 2, "Fan Memory": 1, "SRS Audit Log": 1}
	assert result["rows"] == result["deleted"] and result["keys"] == {"memory": 3}

	rows_after = every_row(db)
	assert not [
		row
		for row in rows_after
		if marker(TARGET) in row or '"gdpr-fan", "creator_id": "gdpr-creator"' in row
	]
	for pair in OTHERS:
		assert (
			sum(marker(pair) in row for row in rows_after)
			== sum(marker(pair) in row for row in rows_before)
			> 0
		)

	ttl = cache.tombstone_ttl(runtime.settings())
	for key, (value, expires) in every_entry(redis_client).items():
		assert marker(TARGET) not in (value or "")
		if key in cache.pair_keys(*TARGET):
			assert value.endswith("|") and 0 < expires <= ttl  # a tombstone: no data, gone within seconds
	for pair in OTHERS:
		assert cache.get(redis_client, cache.context_key(*pair)) is not None
		assert cache.get(redis_client, cache.engagement_key(*pair)) is not None

	assert all(marker(p) not in r.getMessage() for r in caplog.records for p in [TARGET, *OTHERS])
	context = service.get_memory_context(*TARGET)
	assert context["engagement_metrics"]["total_interactions"] == 0 and not context["degraded"]


def test_a_read_in_flight_cannot_bring_erased_data_back(db, redis_client):
	remember(TARGET, db)
	key = cache.context_key(*TARGET)
	version_read_before_erase = int(redis_client.get(key).split("|")[0])
	service.clear_memory(*TARGET)
	cache.put_many(redis_client, [(key, version_read_before_erase, '{"stale": true}')], ttl=60)
	assert cache.get(redis_client, key) is None


# --- bulk and stats ---------------------------------------------------------------------------


def selects(db) -> int:
	return int(db.sql("show session status like 'Com_select'")[0][1])


def test_bulk_reads_batch_the_misses_and_give_unknown_fans_defaults(db):
	for fan in ("fan-a", "fan-b", "fan-c"):
		save(fan, "creator-b", content=f"hi from {fan}")
	cache.drain()
	service.get_memory_context("fan-a", "creator-b")
	asked = ["fan-c", "fan-a", "nobody-1", "fan-b", "nobody-2"]

	with runtime.override_settings(bulk_batch_size=2):
		before = selects(db)
		contexts = service.get_memories_for_fans(asked, "creator-b")
		# 4 misses in batches of 2: rows and recent messages, one query each per batch.
		assert selects(db) - before == 4
		assert list(contexts) == asked
		assert contexts["fan-b"]["recent_messages"][0]["content"] == "hi from fan-b"
		for unknown in ("nobody-1", "nobody-2"):
			assert contexts[unknown]["fan_id"] == unknown and contexts[unknown]["recent_messages"] == []
			assert contexts[unknown]["engagement_metrics"]["engagement_score"] == 0.5

		before = selects(db)
		assert service.get_memories_for_fans(asked, "creator-b") == contexts
		assert selects(db) - before == 0
	assert service.get_memories_for_fans([], "creator-b") == {}


def test_stats_summarise_a_creator(db):
	with runtime.override_settings(calibration_min_messages=3):
		for i in range(3):
			save("fan-s1", "creator-s", content=f"message {i}?")
		save("fan-s2", "creator-s", "purchase", amount=10)
		save("fan-s3", "creator-s", "view")
		save("fan-s1", "creator-other")
	cache.drain()
	stats = service.get_memory_stats("creator-s")
	scores = [service.get_engagement_score(f"fan-s{i}", "creator-s") for i in (1, 2, 3)]
	assert {k: v for k, v in stats.items() if k not in ("avg_engagement_score", "last_updated")} == {
		"total_fans": 3,
		"fans_with_memory": 1,
		"total_messages": 3,
		"total_interactions": 5,
		"calibrated_profiles": 1,
	}
	assert stats["avg_engagement_score"] == pytest.approx(sum(scores) / 3, abs=1e-5)
	assert stats["last_updated"]
	assert service.get_memory_stats("creator-none")["total_fans"] == 0


def test_operations_log_start_and_finish_with_correlation_and_duration(caplog):
	caplog.set_level(logging.DEBUG, logger="memora")
	with runtime.correlation("trace-fan-memory"):
		called = time.perf_counter()
		service.get_memory_context("fan-l", "creator-1")
		elapsed_ms = (time.perf_counter() - called) * 1000
	start = events_logged(caplog, "memory.get_memory_context.start")[0]
	finish = events_logged(caplog, "memory.get_memory_context.finish")[0]
	assert start["correlation_id"] == finish["correlation_id"] == "trace-fan-memory"
	assert finish["cache_misses"] == 1 and finish["fan_id"] == "fan-l"
	# The logged duration is the call's own: measured, and within what the caller saw.
	assert 0 < finish["duration_ms"] <= elapsed_ms


def test_bad_input_is_refused_and_writes_nothing(db):
	with pytest.raises(MemoryServiceException) as caught:
		save("fan-v", "creator-1", "purchase", amount=float("nan"))
	assert caught.value.type is MemoryServiceError.VALIDATION_ERROR and caught.value.field == "amount"
	with pytest.raises(MemoryServiceException):
		service.get_memory_context("", "creator-1")
	with pytest.raises(MemoryServiceException):
		service.get_memories_for_fans("fan-v", "creator-1")
	assert interactions(db, "fan-v", "creator-1") == 0


ENGAGEMENT_NOW = 1_800_000_000.0
ENGAGEMENT_HALF_LIFE = 14 * decay.DAY


def test_engagement_sql_expression_matches_python(db):
	"""The engagement decay MariaDB computes for bulk reads equals the Python model's."""
	rows = [
		(0.5, None),
		(0.73, ENGAGEMENT_NOW - 3 * decay.DAY),
		(0.99, ENGAGEMENT_NOW - 100 * decay.DAY),
		(0.6, ENGAGEMENT_NOW + 10),
	]
	for stored, last in rows:
		last_dt = runtime.from_ts(last) if last is not None else None
		sql = engagement.sql_current("%(score)s", "%(last)s")
		value = db.sql(
			f"select {sql}",
			{
				"score": stored,
				"last": last_dt,
				"now": runtime.from_ts(ENGAGEMENT_NOW),
				"half_life": ENGAGEMENT_HALF_LIFE,
			},
		)[0][0]
		assert float(value) == pytest.approx(
			engagement.current(stored, last, ENGAGEMENT_NOW, ENGAGEMENT_HALF_LIFE), abs=1e-9
		)


@pytest.mark.parametrize("half_life_days", [3.0, 14.0, 60.0])
def test_the_engagement_half_life_setting_is_the_one_applied(half_life_days):
	"""Engagement decays with Memora Settings' half-life, on the save's update, the single read, the
	context and the creator's average alike (not with a fixed 14 days)."""
	now = runtime.now_ts()
	with runtime.override_settings(engagement_half_life_days=half_life_days):
		save("fan-h", "creator-h", "tip", amount=20.0, timestamp=now - 30 * decay.DAY, event_id="h1")
		save("fan-h", "creator-h", "like", timestamp=now - 10 * decay.DAY, event_id="h2")
		cache.drain()
		half_life = half_life_days * decay.DAY
		score, last = engagement.record(
			engagement.PRIOR, None, now - 30 * decay.DAY, engagement.weight("tip", 20.0), half_life
		)
		score, last = engagement.record(
			score, last, now - 10 * decay.DAY, engagement.weight("like", None), half_life
		)
		expected = engagement.current(score, last, runtime.now_ts(), half_life)
		assert service.get_engagement_score("fan-h", "creator-h") == pytest.approx(expected, abs=1e-4)
		context = service.get_memory_context("fan-h", "creator-h")
		assert context["engagement_metrics"]["engagement_score"] == pytest.approx(expected, abs=1e-4)
		stats = service.get_memory_stats("creator-h")
		assert stats["avg_engagement_score"] == pytest.approx(expected, abs=1e-4)
