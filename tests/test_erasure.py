"""GDPR erasure of a whole person on real MariaDB, Redis and RQ workers: a fan with every creator
(`erase_fan`), a player with every season (`erase_player`), and one fan-creator pair (`clear_memory`).

Every test snapshots every Memora table (each column cast to text) and every Redis key under the
site's prefix and beside the jobs (name and value, whatever its type), erases, and checks that the
person's id appears nowhere, in any letter case, and that everything naming someone else is unchanged.
The property test at the end does the same after random interleavings of saves and reviews; it runs
PROPERTY_EXAMPLES examples (15) with a fixed seed, and MEMORA_ERASURE_EXAMPLES=500 runs a long one.
"""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memora import memory, runtime, srs, standalone
from memora.services import audit_log, rate_limits
from memora.services.erasure import audit
from memora.services.fan_memory import cache, recall_cache, vectors
from memora.services.pseudonym import pseudonym
from memora.services.srs import in_flight, keys, partitions, pending, resync_marks, review_log, reviews
from memora.services.srs.persistence import persist_review_batch
from memora.tests.cards import card
from memora.tests.traces import Fact, key_facts, names, table_facts
from tests.conftest import clear_keys, clear_tables
from tests.harness.workers import wait_until
from tests.persistence_data import forget_jobs, job_status
from tests.srs_data import insert_trackers, make_season

S1, S2 = "Erasure 2025", "Erasure 2026"
TARGET, BYSTANDER = "zelda-42@example.com", "bruno-7@example.com"
CREATOR_A, CREATOR_B = "creator-alpha", "creator-beta"
SERVICE = "service-user@example.com"
PROPERTY_EXAMPLES = int(os.environ.get("MEMORA_ERASURE_EXAMPLES", "15"))


# --- snapshots -----------------------------------------------------------------------------------


def snapshot() -> set[Fact]:
	cache.drain()
	data = key_facts(runtime.redis_client(), runtime.key_prefix() + "*")
	beside_jobs = key_facts(runtime.queue_connection(), runtime.queue_side_key("*"))
	return table_facts() | data | beside_jobs


def about(fact: Fact, *ids: str) -> bool:
	"""The fact names `ids` in clear or by their pseudonym (rate-limit counters, cache keys)."""
	return names(fact, *ids) or pseudonym(*ids) in "\0".join(fact)


def counted(fact: Fact) -> bool:
	"""The metrics' counters, which every call moves: they name no one, and are not anyone's data."""
	return fact[0] == "redis" and fact[1].startswith(runtime.key("metrics"))


def assert_erased(before: set[Fact], after: set[Fact], *ids: str, jobs: frozenset = frozenset()) -> None:
	"""Nothing names `ids` (all of them, in any case) any more, and every fact that did not name them
	(nor one of their deleted `jobs`) is still there; what is new is the erasure entry, cache tombstones
	and redacted audit rows."""
	assert [fact for fact in after if names(fact, *ids)] == []
	kept = {fact for fact in before if not about(fact, *ids) and not counted(fact) and not jobs & set(fact)}
	assert kept - after == set()
	for fact in after - before:
		tombstone = fact[0] == "redis" and fact[2] == "" and fact[3].endswith("|")
		assert fact[0] in ("Memora Erasure", "SRS Audit Log") or tombstone or counted(fact), fact


def assert_recall_forgotten(fan: str, creator: str | None = None) -> None:
	"""No vector or index of the erased pairs is left, and a search finds nothing of theirs, while
	the bystander's messages are still found by words and by meaning."""
	assert recall_cache.forget(fan, creator) == 0
	runtime.db().rollback()
	creators = [creator] if creator else [CREATOR_A, CREATOR_B]
	for erased in creators:
		assert memory.search_memories(fan, erased, "hi from")["results"] == []
	found = memory.search_memories(BYSTANDER, CREATOR_A, "greetings")["results"]
	assert found and found[0]["content"] == f"hi from {BYSTANDER}" and found[0]["matched"] == "semantic"


# --- seed data -----------------------------------------------------------------------------------


def seed_fans() -> None:
	"""Both fans with both creators, cached contexts and scores (also of a pair with no row), audit
	rows about them and counters."""
	for fan in (TARGET, BYSTANDER):
		for creator in (CREATOR_A, CREATOR_B):
			memory.save_interaction(
				{"fan_id": fan, "creator_id": creator, "type": "message", "content": f"hi from {fan}"}
			)
			memory.save_interaction({"fan_id": fan, "creator_id": creator, "type": "tip", "amount": 3})
		vectors.embed_pending()
		cache.drain()
		for creator in (CREATOR_A, CREATOR_B, "creator-never-met"):
			memory.get_memory_context(fan, creator)
			memory.get_engagement_score(fan, creator)
			memory.search_memories(fan, creator, "hello")
		rate_limits.count("memory", SERVICE, fan, 100, 60)
	audit_log.add(
		[
			audit_log.entry("memory_check", "Success", fan_id=TARGET, creator_id=CREATOR_A),
			audit_log.entry("memory_check", "Success", fan_id=BYSTANDER, creator_id=CREATOR_A),
			audit_log.entry(
				"memory_check", "Correction", details={"fans": [TARGET, BYSTANDER]}, error=f"saw {TARGET}."
			),
		]
	)
	runtime.db().commit()


def seed_players() -> list[str]:
	"""Both players in two seasons: trackers, review log rows (of a season each with its partition and
	of one without), archived rows, queues, pending reviews with a batch queued for each, re-sync marks,
	audit rows (one naming both) and counters. Returns the job ids."""
	now = time.time()
	make_season(S1)
	make_season(S2, active=False)
	partitions.create_partition(S1)
	jobs = []
	for player in (TARGET, BYSTANDER):
		for season in (S1, S2):
			insert_trackers(player, season, {"q1": now - 3600, "q2": now - 60}, subject="math", topic="t")
			reviews.get_review_session(player, season)
		runtime.db().sql(
			"insert into `tabArchived Memory Tracker` (name, player, season, question_id) values (%s, %s, %s, %s)",
			(f"archived-{player}", player, "Erasure 2024", "q-old"),
		)
		for season in (S1, S2, "Erasure 2024"):
			runtime.db().sql(
				"insert into `tabMemora Review Log` (name, player, season, question_id, rating, reviewed_at) "
				"values (%s, %s, %s, 'q1', 3, %s)",
				(f"log-{player}-{season}", player, season, runtime.from_ts(now - 7200)),
			)
		result = reviews.submit_review_session(
			player, S1, [{"question_id": "q1", "is_correct": True, "duration_ms": 2000}]
		)
		jobs.append(result["persistence_job_id"])
		resync_marks.add([(player, S2)], "test")
		audit_log.add([audit_log.entry("persist_review_batch", "Failed", player=player, season=S1)])
		rate_limits.count("review", SERVICE, player, 100, 60)
	audit_log.add(
		[
			audit_log.entry(
				"reconcile", "Correction", details={"players": [TARGET, BYSTANDER], "n": 2}, error=TARGET
			)
		]
	)
	runtime.db().commit()
	assert pending.get_all(TARGET, S1) and in_flight.players_with_batches(S1, [TARGET]) == [TARGET]
	return jobs


def memora_lines(caplog) -> list[str]:
	return [r.getMessage() for r in caplog.records if r.name == "memora"]


@pytest.fixture(autouse=True)
def fresh_queues():
	yield
	forget_jobs("short")


# --- erase_player --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("default_partition_only")
def test_erase_player_removes_every_trace_and_leaves_the_bystander(workers, caplog):
	jobs = seed_players()
	before = snapshot()
	assert any(names(fact, TARGET) for fact in before if fact[0] == "redis")
	caplog.set_level(logging.DEBUG, logger="memora")
	caplog.clear()

	receipt = srs.erase_player(TARGET.upper())
	deleted_jobs = frozenset(job for job in jobs if runtime.fetch_job(job) is None)

	assert receipt["subject"] == pseudonym(TARGET)
	assert receipt["rows"] == {
		"Archived Memory Tracker": 1,
		"Memora Review Log": 3,
		"Player Memory Tracker": 4,
		"SRS Audit Log": 1,
		"SRS Queue Resync": 1,
	}
	assert receipt["redacted"] == {"SRS Audit Log": 1}
	# The queue and stamp of each season and the pending hash of S1; S1's and S2's player sets.
	assert receipt["keys"]["srs"] == 5 and receipt["keys"]["srs-season"] == 2
	assert receipt["keys"]["in-flight"] == 1 and receipt["keys"]["rl"] == 1
	# The target's queued batch went with them, its payload and all; the bystander's waits.
	assert receipt["keys"]["rq-jobs"] == len(deleted_jobs) == 1 and len(jobs) == 2
	after = snapshot()
	assert_erased(before, after, TARGET, jobs=deleted_jobs)
	stored = runtime.db().sql(
		"select subject_kind, subject, receipt from `tabMemora Erasure` where name = %s",
		(receipt["erasure"],),
	)[0]
	assert stored[:2] == ("player", pseudonym(TARGET))
	assert json.loads(stored[2]) == receipt

	# The bystander's batch runs now and writes its review; nothing of the target comes back.
	workers("short")
	assert wait_until(
		lambda: all(job_status(job) == "finished" for job in set(jobs) - deleted_jobs), timeout=30
	)
	assert [fact for fact in snapshot() if names(fact, TARGET)] == []
	assert runtime.db().sql(
		"select count(*) from `tabPlayer Memory Tracker` where player = %s and last_review_id is not null",
		(BYSTANDER,),
	)[0][0]
	assert review_log.season_count(S1) == 2  # the bystander's seeded row and their answer's
	assert not [line for line in memora_lines(caplog) if TARGET.lower() in line.lower()]


def test_a_batch_queued_before_the_erasure_is_deleted_with_its_payload(workers):
	"""The job's payload names the player and carries their answers: the erasure deletes it."""
	now = time.time()
	job = srs_queue([card("q1", "r-before", now - 5)])
	assert srs.erase_player(TARGET)["keys"]["rq-jobs"] == 1
	assert runtime.fetch_job(job) is None
	workers("short")
	assert rows_of(TARGET) == 0
	assert list(runtime.redis_client().scan_iter(match=keys.queue_key(TARGET, "*"))) == []


def test_a_batch_already_running_at_the_erasure_writes_no_row():
	"""A job a worker had started is left to finish; the guard keeps its answers from being written."""
	srs.erase_player(TARGET)
	assert persist_review_batch([card("q1", "r-running", time.time() - 5)], TARGET, S1)["success"]
	assert rows_of(TARGET) == 0


def test_reviews_after_the_erasure_are_written():
	"""The player plays again: what they answer after the erasure is theirs to keep."""
	srs.erase_player(TARGET)
	later = time.time() + 1
	assert persist_review_batch([card("q1", "r-after", later)], TARGET, S1)["success"]
	assert rows_of(TARGET) == 1


def srs_queue(states: list[dict]) -> str:
	from memora.services.srs.persistence import queue_review_batch

	return queue_review_batch(states, TARGET, S1)


def rows_of(player: str) -> int:
	runtime.db().rollback()
	return runtime.db().sql("select count(*) from `tabPlayer Memory Tracker` where player = %s", (player,))[
		0
	][0]


# --- erase_fan and clear_memory ------------------------------------------------------------------


def test_erase_fan_removes_every_trace_and_leaves_the_bystander(caplog):
	seed_fans()
	before = snapshot()
	caplog.set_level(logging.DEBUG, logger="memora")
	caplog.clear()

	receipt = memory.erase_fan(TARGET.upper())

	assert receipt["subject"] == pseudonym(TARGET)
	assert receipt["rows"] == {"Fan Memory": 2, "Interaction": 4, "SRS Audit Log": 1}
	assert receipt["redacted"] == {"SRS Audit Log": 1}
	# Context and score of 3 creators, recall entries of the 2 with messages.
	assert receipt["keys"] == {"memory": 8, "rl": 1}
	assert_erased(before, snapshot(), TARGET)
	assert not [line for line in memora_lines(caplog) if TARGET.lower() in line.lower()]
	assert_recall_forgotten(TARGET)
	assert memory.get_memory_context(TARGET, CREATOR_A)["recent_messages"] == []


def test_clear_memory_erases_the_pair_only_and_logs_its_pseudonym(caplog):
	seed_fans()
	before = snapshot()
	caplog.set_level(logging.DEBUG, logger="memora")
	caplog.clear()

	result = memory.clear_memory(TARGET, CREATOR_A.upper())

	assert result["deleted"] == {"Interaction": 2, "Fan Memory": 1, "SRS Audit Log": 1}
	assert result["subject"] == pseudonym(TARGET, CREATOR_A) and result["keys"] == {"memory": 3}
	after = snapshot()
	assert_erased(before, after, TARGET, CREATOR_A)
	assert runtime.db().sql("select subject_kind from `tabMemora Erasure`") == (("pair",),)
	assert not [line for line in memora_lines(caplog) if TARGET.lower() in line.lower()]
	assert_recall_forgotten(TARGET, CREATOR_A)
	assert memory.search_memories(TARGET, CREATOR_B, "hi from")["results"]


def test_an_id_is_redacted_where_it_stands_alone():
	found = audit.mention(TARGET)
	text = f"{TARGET.upper()} and {TARGET}. Not x{TARGET}, {TARGET}x or {TARGET}.org"
	assert found.sub("P", text) == f"P and P. Not x{TARGET}, {TARGET}x or {TARGET}.org"


def test_cache_keys_name_no_one_and_the_clear_text_ones_are_cleaned_up():
	memory.save_interaction({"fan_id": TARGET, "creator_id": CREATOR_A, "type": "message", "content": "hi"})
	memory.get_memory_context(TARGET, CREATOR_A)
	memory.get_engagement_score(TARGET, CREATOR_A)
	memory.search_memories(TARGET, CREATOR_A, "hi")
	cache.drain()
	client = runtime.redis_client()
	old = [runtime.key("memory", family, TARGET, CREATOR_A) for family in ("context", "engagement")]
	for key in old:
		client.set(key, "7|{}", ex=60)
	other = runtime.key("memory-notes", TARGET)
	client.set(other, "kept", ex=60)

	assert cache.forget_clear_text_keys() == 2
	left = list(client.scan_iter(match=runtime.key("memory", "*")))
	assert left and not [k for k in left if TARGET in k or CREATOR_A in k]
	assert sorted(left) == sorted(cache.pair_keys(TARGET, CREATOR_A))
	assert client.get(other) == "kept"


# --- property ------------------------------------------------------------------------------------

PEOPLE = ("ann-1@example.com", "ben-2@example.com", "cyd-3@example.com")
step = st.one_of(
	st.tuples(st.just("save"), st.sampled_from(PEOPLE), st.sampled_from((CREATOR_A, CREATOR_B))),
	st.tuples(st.just("review"), st.sampled_from(PEOPLE), st.sampled_from(("q1", "q2", "q3"))),
	st.tuples(st.just("read"), st.sampled_from(PEOPLE), st.sampled_from((CREATOR_A, CREATOR_B))),
)


@pytest.mark.slow
@settings(
	max_examples=PROPERTY_EXAMPLES,
	derandomize=True,
	deadline=None,
	suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=12), erased=st.sampled_from(PEOPLE))
def test_after_any_history_erasing_one_person_leaves_no_trace_and_others_unchanged(
	memora_database, steps, erased
):
	clear_tables()
	clear_keys()
	standalone.purge_queues(memora_database)
	make_season(S1)
	for person in PEOPLE:
		insert_trackers(person, S1, dict.fromkeys(("q1", "q2", "q3"), time.time() - 60), subject="math")
	for kind, person, what in steps:
		if kind == "save":
			memory.save_interaction(
				{"fan_id": person, "creator_id": what, "type": "message", "content": "hey"}
			)
		elif kind == "read":
			memory.get_memory_context(person, what)
		else:
			reviews.submit_review_session(
				person, S1, [{"question_id": what, "is_correct": True, "duration_ms": 900}]
			)
			rate_limits.count("review", SERVICE, person, 100, 60)
	before = snapshot()
	queued = [job.decode() for job in runtime.queue_connection().zrange(in_flight.index_key(), 0, -1)]

	memory.erase_fan(erased)
	srs.erase_player(erased)

	deleted_jobs = frozenset(job for job in queued if runtime.fetch_job(job) is None)
	assert_erased(before, snapshot(), erased, jobs=deleted_jobs)
