"""SRSPersistenceService on real MariaDB and Redis: the upsert, its ordering and idempotency, input
validation, retries with their audit trail, status and replay. Worker and outage tests are in
test_srs_persistence_faults.py."""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta, timezone

import pymysql
import pytest

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import audit_log, metrics
from memora.services.srs import in_flight, keys, pending, persistence, queue_sync
from memora.services.srs.card import tracker_name
from memora.services.srs.persistence import SRSPersistenceService
from memora.services.srs.persistence import jobs as persistence_jobs
from memora.services.srs.persistence.batch import (
	DECIMAL_MAX,
	INT_MAX,
	JOB_ID_START,
	MAX_BATCH,
	RATING_MAX,
	batch_job_id,
	batch_of,
	normalise_batch,
	normalise_state,
)
from memora.services.srs.persistence.status import LIST_MAX
from memora.services.srs.persistence.write import OPERATION, SAFE_MODE, UNSETTLED, PersistenceFailed
from memora.services.srs.queue import SRSRedisManager
from memora.services.tables import AUDIT_LOG, ERASURES, QUEUE_RESYNC
from memora.tests.cards import card
from tests.harness.figures import Moved
from tests.harness.logs import logged
from tests.harness.net import free_port
from tests.persistence_data import (
	PLAYER,
	SEASON,
	HeldLock,
	RowLock,
	audit_rows,
	erased_now,
	forget_jobs,
	record_pending,
	release_at_first_retry,
	rows,
	run_queued_jobs,
	session_inserts,
	taken_by_a_dead_worker,
)


@pytest.fixture(autouse=True)
def fresh_queue():
	yield
	forget_jobs()


@pytest.fixture
def no_window():
	"""Idempotency beyond the window: the Redis shortcut is off, only the row guard remains."""
	with runtime.override_settings(idempotency_window=0):
		yield


def test_a_batch_is_one_insert_statement_and_one_row_per_card(db):
	now = time.time()
	batch = [card(f"q{i:03d}", f"r{i}", now) for i in range(500)]
	before = session_inserts(db)
	outcome = persistence.persist_review_batch(batch, PLAYER, SEASON)
	assert session_inserts(db) - before == 2  # the trackers' upsert and the review log's insert
	assert outcome == {"success": True, "processed_count": 500, "failed_count": 0, "errors": []}
	stored = rows(db)
	assert len(stored) == 500
	assert db.sql("select count(*) from `tabMemora Review Log`")[0][0] == 500
	row = stored["q007"]
	assert (row["season"], row["last_review_id"], row["state"], row["reps"], row["lapses"]) == (
		SEASON,
		"r7",
		"Review",
		3,
		1,
	)
	assert float(row["stability"]) == 2.5
	assert row["next_review_date"] == runtime.from_ts(now + 86400)
	assert row["last_review_date"] == runtime.from_ts(now)


def test_same_batch_twice_has_one_effect_within_the_window(db):
	now = time.time()
	batch = [card("q1", "r1", now), card("q2", "r2", now)]
	persistence.persist_review_batch(batch, PLAYER, SEASON)
	first = rows(db)
	before = session_inserts(db)
	assert persistence.persist_review_batch(batch, PLAYER, SEASON)["success"]
	assert session_inserts(db) == before  # recognised in Redis: the database is not asked
	assert rows(db) == first


def test_same_batch_twice_has_one_effect_beyond_the_window(db, no_window):
	now = time.time()
	batch = [card("q1", "r1", now), card("q2", "r2", now)]
	persistence.persist_review_batch(batch, PLAYER, SEASON)
	first = rows(db)
	time.sleep(0.01)
	persistence.persist_review_batch(batch, PLAYER, SEASON)
	assert rows(db) == first  # not even `modified` moved


def test_older_review_arriving_later_is_ignored(db, no_window):
	now = time.time()
	persistence.persist_review_batch([card("q1", "new", now, stability=9.0)], PLAYER, SEASON)
	persistence.persist_review_batch(
		[card("q1", "old", now - 60, stability=1.0, subject="history")], PLAYER, SEASON
	)
	row = rows(db)["q1"]
	assert (float(row["stability"]), row["last_review_id"], row["subject"]) == (9.0, "new", "math")
	assert row["last_review_date"] == runtime.from_ts(now)


def test_a_newer_review_with_a_lower_sorting_id_moves_every_column(db, no_window):
	"""The guard columns are assigned last: were last_review_date assigned first, every later column
	would compare equal dates and fall back to the ids, and keep the older state."""
	now = time.time()
	persistence.persist_review_batch([card("q1", "z-older", now - 60, stability=1.0)], PLAYER, SEASON)
	newer = card("q1", "a-newer", now, stability=9.0, state="Relearning", reps=7, subject="physics")
	persistence.persist_review_batch([newer], PLAYER, SEASON)
	row = rows(db)["q1"]
	assert (float(row["stability"]), row["state"], row["reps"], row["subject"]) == (
		9.0,
		"Relearning",
		7,
		"physics",
	)
	assert (row["last_review_id"], row["last_review_date"]) == ("a-newer", runtime.from_ts(now))
	assert row["next_review_date"] == runtime.from_ts(newer["next_review_ts"])


def test_equal_review_times_end_in_the_same_state_in_any_order(db, no_window):
	now = time.time()
	a, b = card("q1", "review-B", now, stability=1.0), card("q1", "review-b", now, stability=2.0)
	persistence.persist_review_batch([b], PLAYER, SEASON)
	persistence.persist_review_batch([a], PLAYER, SEASON)
	persistence.persist_review_batch([a], "other@x.com", SEASON)
	persistence.persist_review_batch([b], "other@x.com", SEASON)
	assert rows(db)["q1"]["last_review_id"] == rows(db, "other@x.com")["q1"]["last_review_id"] == "review-b"


def test_two_states_of_one_card_in_a_batch_keep_the_newest(db):
	now = time.time()
	# The newer state's id sorts first: the newest wins by time, not by its place in the batch.
	batch = [card("q1", "b-earlier", now, stability=1.0), card("q1", "a-later", now + 5, stability=4.0)]
	assert persistence.persist_review_batch(batch, PLAYER, SEASON)["processed_count"] == 2
	assert rows(db)["q1"]["last_review_id"] == "a-later"


def test_existing_row_made_elsewhere_is_updated_not_duplicated(db):
	db.sql(
		"insert into `tabPlayer Memory Tracker` (name, player, season, question_id, stability) "
		"values ('made-in-desk', %s, %s, 'q1', 1)",
		(PLAYER, SEASON),
	)
	db.commit()
	persistence.persist_review_batch([card("q1", "r1", time.time(), stability=3.0)], PLAYER, SEASON)
	stored = rows(db)
	assert len(stored) == 1
	assert (stored["q1"]["name"], float(stored["q1"]["stability"])) == ("made-in-desk", 3.0)


def test_spec_response_shape_is_accepted():
	service = SRSPersistenceService()
	when = datetime(2026, 1, 21, tzinfo=timezone.utc)
	response = {
		"question_id": "q-123",
		"new_stability": 2.5,
		"new_next_review_date": when,
		"subject": "mathematics",
		"topic": "algebra",
	}
	assert service.persist_single_review(response, "user@example.com", "2024-2025") is True
	row = rows(runtime.db(), "user@example.com")["q-123"]
	assert (float(row["stability"]), row["subject"]) == (2.5, "mathematics")
	assert row["next_review_date"] == runtime.from_ts(when.timestamp())
	# the same response again within the window: recognised by its derived review id
	assert service.persist_review_batch([response], "user@example.com", "2024-2025")["success"]
	assert rows(runtime.db(), "user@example.com")["q-123"]["last_review_id"] == row["last_review_id"]


def test_constants_come_from_settings():
	service = SRSPersistenceService()
	assert (
		service.MAX_RETRIES,
		service.RETRY_DELAY_BASE,
		service.RETRY_DELAY_MAX,
		service.IDEMPOTENCY_WINDOW,
	) == (3, 1.0, 60.0, 300)
	with runtime.override_settings(max_retries=5):
		assert service.MAX_RETRIES == 5


@pytest.mark.parametrize(
	("change", "field"),
	[
		({"question_id": ""}, "responses[2].question_id"),
		({"stability": "lots"}, "responses[2].stability"),
		({"stability": None, "new_stability": -1}, "responses[2].new_stability"),
		({"next_review_ts": 1.7e12}, "responses[2].next_review_ts"),
		({"reviewed_at": "yesterday"}, "responses[2].reviewed_at"),
		({"reviewed_at": float("nan")}, "responses[2].reviewed_at"),
		({"next_review_ts": float("inf")}, "responses[2].next_review_ts"),
		({"reviewed_at": True}, "responses[2].reviewed_at"),
		({"state": "Forgotten"}, "responses[2].state"),
		({"reps": 1.5}, "responses[2].reps"),
		({"lapses": 2**31}, "responses[2].lapses"),  # past the int column
		({"difficulty": 1e12}, "responses[2].difficulty"),  # past the decimal(21,9) column
		({"last_rating": 9}, "responses[2].last_rating"),
		({"review_id": "x" * 141}, "responses[2].review_id"),
		({"topic": "a\x00b"}, "responses[2].topic"),
	],
)
def test_a_bad_row_refuses_the_whole_batch(db, change, field):
	now = time.time()
	batch = [card("q1", "r1", now), card("q2", "r2", now), {**card("q3", "r3", now), **change}]
	with pytest.raises(ValidationError) as refused:
		persistence.persist_review_batch(batch, PLAYER, SEASON)
	assert refused.value.field == field
	assert rows(db) == {}


@pytest.mark.parametrize(
	("user", "season", "field"),
	[
		("", SEASON, "user"),
		(PLAYER, "S1`; drop table x; --", "season"),
		(PLAYER, " S1", "season"),
	],
)
def test_player_and_season_are_validated(db, user, season, field):
	with pytest.raises(ValidationError) as refused:
		persistence.queue_review_batch([card("q1", "r1", time.time())], user, season)
	assert refused.value.field == field
	assert rows(db, user) == {}


def test_responses_must_be_a_bounded_list():
	with pytest.raises(ValidationError, match="responses"):
		persistence.persist_review_batch({"question_id": "q1"}, PLAYER, SEASON)
	too_many = [card(f"q{i}", f"r{i}", 1.0) for i in range(MAX_BATCH + 1)]
	with pytest.raises(ValidationError, match="at most"):
		persistence.persist_review_batch(too_many, PLAYER, SEASON)


def test_pending_state_is_cleared_only_if_it_still_holds_the_persisted_review(db):
	now = time.time()
	pipe = runtime.redis_client().pipeline()
	pending.record(pipe, PLAYER, SEASON, [card("q1", "newer", now + 10), card("q2", "r2", now)])
	pipe.execute()
	persistence.persist_review_batch([card("q1", "older", now), card("q2", "r2", now)], PLAYER, SEASON)
	assert set(pending.get_all(PLAYER, SEASON)) == {"q1"}


def test_empty_batch_is_a_no_op(db):
	assert persistence.persist_review_batch([], PLAYER, SEASON) == {
		"success": True,
		"processed_count": 0,
		"failed_count": 0,
		"errors": [],
	}
	assert persistence.get_persistence_status(persistence.queue_review_batch([], PLAYER, SEASON)) is None


# --- retries, final failure, status and replay (a held row lock makes the write time out) ---------


def test_transient_errors_are_retried_and_audited_with_the_correlation_id(
	db, short_lock_waits, monkeypatch, caplog
):
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	persistence.persist_review_batch([card("q1", "r0", now - 100)], PLAYER, SEASON)
	lock = RowLock(PLAYER, SEASON, "q1")
	release_at_first_retry(monkeypatch, lock)
	random.seed(20)  # the jitter, so the delay has a digit in every decimal place it is rounded to
	moved = Moved()
	with runtime.correlation("trace-retry"):
		outcome = persistence.persist_review_batch([card("q1", "r1", now)], PLAYER, SEASON)
	assert outcome["success"]
	assert moved.after().counter("retries", operation=OPERATION) == 1
	(retried,) = logged(caplog, "persist_retry")
	assert (retried["attempt"], retried["error"], retried["level"]) == (1, "OperationalError", "WARNING")
	assert rows(db)["q1"]["last_review_id"] == "r1"
	trail = audit_rows(db)
	assert [r["status"] for r in trail] == ["Retry", "Success"]
	assert {r["correlation_id"] for r in trail} == {"trace-retry"}
	assert [r["attempt"] for r in trail] == [1, 2]
	assert "1205" in trail[0]["error"]  # lock wait timeout
	assert json.loads(trail[0]["details"]) == {"delay_s": retried["delay_ms"] / 1000}
	assert json.loads(trail[1]["details"]) == {"attempts": 2}
	job_id = trail[0]["job_id"]
	status = persistence.get_persistence_status(job_id)
	assert (status["status"], status["source"], status["attempt"]) == ("finished", "audit_log", 2)


def test_final_failure_is_recorded_with_the_batch_and_can_be_replayed(db, short_lock_waits, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	persistence.persist_review_batch([card("q1", "r0", now - 100)], PLAYER, SEASON)
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		with runtime.correlation("trace-fail"):
			outcome = persistence.persist_review_batch(
				[card("q1", "r1", now), card("q2", "r2", now)], PLAYER, SEASON
			)
	finally:
		lock.release()
	assert (outcome["success"], outcome["processed_count"], outcome["failed_count"]) == (False, 0, 2)
	assert outcome["errors"][0].startswith("OperationalError: (1205, 'Lock wait timeout")
	assert rows(db)["q1"]["last_review_id"] == "r0" and "q2" not in rows(db)  # nothing partly written
	trail = audit_rows(db)
	assert [(r["status"], r["attempt"]) for r in trail] == [("Retry", 1), ("Retry", 2), ("Failed", 3)]
	assert "1205" in trail[-1]["error"]
	(line,) = logged(caplog, "persist_failed")
	assert "1205" in line.pop("error")
	assert line == {
		"job_id": trail[-1]["job_id"],
		"player": PLAYER,
		"season": SEASON,
		"rows": 2,
		"level": "ERROR",
	}
	failed = persistence.failed_batches()
	assert [(f["job_id"], f["row_count"], f["source"], f["correlation_id"]) for f in failed] == [
		(trail[-1]["job_id"], 2, "audit_log", "trace-fail")
	]
	assert persistence.get_persistence_status(failed[0]["job_id"])["status"] == "failed"

	with runtime.override_settings(persistence_queue="default"):
		replayed = persistence.replay_failed()
	assert replayed == {"replayed": [failed[0]["job_id"]], "failed": [], "not_found": []}
	assert persistence.failed_batches() == []
	assert audit_rows(db, "Replayed")[0]["correlation_id"] == "trace-fail"
	# no worker runs in this test: the replayed batch waits on the queue; run it here
	job = runtime.fetch_job(failed[0]["job_id"])
	assert job.status == "queued"
	persistence.run_batch_job(**job.kwargs)
	assert {q: r["last_review_id"] for q, r in rows(db).items()} == {"q1": "r1", "q2": "r2"}


def test_replay_of_unknown_ids_reports_them(db):
	assert persistence.replay_failed(["nope"]) == {"replayed": [], "failed": [], "not_found": ["nope"]}
	with pytest.raises(ValidationError, match="job_ids"):
		persistence.replay_failed("nope")


def test_audit_entries_are_generic_and_checked(db):
	entry = audit_log.entry(
		"archive_season", "Success", season="S0", row_count=12, details={"chunks": 3}, correlation_id="c1"
	)
	audit_log.add([entry])
	db.commit()
	stored = audit_rows(db)[0]
	assert (stored["operation"], stored["season"], stored["row_count"], stored["correlation_id"]) == (
		"archive_season",
		"S0",
		12,
		"c1",
	)
	with pytest.raises(ValueError):
		audit_log.entry("archive_season", "Maybe")


@pytest.mark.fault
def test_audit_write_falls_back_to_the_log_when_the_database_is_gone(mariadb_proxy, monkeypatch, caplog):
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	mariadb_proxy.cut()
	assert audit_log.write([audit_log.entry("persist_review_batch", "Failed", error="boom")]) is False
	assert "audit_log_unwritten" in caplog.text
	runtime.db().close()


def test_text_round_trips_exactly_and_names_match_the_python_derivation(db):
	now = time.time()
	qid = "q-ünïcode-🧮-" + "x" * 126  # 140 characters, some outside the BMP
	persistence.persist_review_batch(
		[card(qid, "r-ß", now, subject="数学 🧮", topic='it\'s "quoted" \\ %s')], PLAYER, SEASON
	)
	row = rows(db)[qid]
	assert (row["subject"], row["topic"], row["last_review_id"]) == ("数学 🧮", 'it\'s "quoted" \\ %s', "r-ß")
	assert row["name"] == tracker_name(PLAYER, SEASON, qid)
	assert float(row["stability"]) == 2.5 and row["next_review_date"] == runtime.from_ts(now + 86400)


def test_times_are_stored_in_the_system_time_zone(db, monkeypatch):
	monkeypatch.setenv("MEMORA_TIME_ZONE", "Asia/Kolkata")
	reviewed = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()
	persistence.persist_review_batch([card("q1", "r1", reviewed)], PLAYER, SEASON)
	row = rows(db)["q1"]
	assert row["last_review_date"] == datetime(2026, 3, 1, 17, 30)
	assert row["next_review_date"] == datetime(2026, 3, 2, 17, 30)


# --- without Memora's Redis, without the queue ---------------------------------------------------


def resync_reasons(db) -> list[tuple]:
	db.rollback()
	return [tuple(r) for r in db.sql(f"select player, season, reason from {QUEUE_RESYNC} order by reason")]


def test_a_batch_written_while_redis_is_unreachable_marks_its_queue(unreachable_redis, db, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	states = [card("q1", "r1", time.time())]
	outcome = persistence.persist_review_batch(states, PLAYER, SEASON)
	assert outcome == {"success": True, "processed_count": 1, "failed_count": 0, "errors": []}
	assert rows(db)["q1"]["last_review_id"] == "r1"
	assert resync_reasons(db) == [(PLAYER, SEASON, UNSETTLED)]
	job_id = batch_job_id(PLAYER, SEASON, batch_of(states, PLAYER, SEASON).states)
	for event in ("persist_window_unreadable", "persist_not_settled"):
		(line,) = logged(caplog, event)
		assert (line["job_id"], line["level"]) == (job_id, "WARNING") and "Connection refused" in line[
			"error"
		]


def test_a_resync_mark_the_database_refuses_is_logged_and_the_write_stands(unreachable_redis, db, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	db.sql("set session lock_wait_timeout = 1")
	holder = pymysql.connect(**runtime.db_config())
	try:
		holder.cursor().execute(f"lock tables {QUEUE_RESYNC} write")
		outcome = persistence.persist_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	finally:
		holder.close()
		db.sql("set session lock_wait_timeout = default")
	assert outcome["success"] and rows(db)["q1"]["last_review_id"] == "r1"
	assert resync_reasons(db) == []
	(line,) = logged(caplog, "persist_unsettled_not_marked")
	assert line["level"] == "WARNING" and "Lock wait timeout" in line["error"]


def test_answers_accepted_in_safe_mode_are_written_at_once_with_a_resync_mark(unreachable_redis, db):
	states = [card("q1", "r1", time.time()), card("q2", "r2", time.time())]
	with runtime.correlation("trace-safe"):
		job_id = persistence.persist_safe_mode_batch(states, PLAYER, SEASON)
	assert job_id == batch_of(states, PLAYER, SEASON).job_id
	assert {q: r["last_review_id"] for q, r in rows(db).items()} == {"q1": "r1", "q2": "r2"}
	assert resync_reasons(db) == [(PLAYER, SEASON, SAFE_MODE)]
	(success,) = audit_rows(db)
	assert {k: success[k] for k in ("operation", "status", "job_id", "attempt", "player", "season")} == {
		"operation": OPERATION,
		"status": "Success",
		"job_id": job_id,
		"attempt": 1,
		"player": PLAYER,
		"season": SEASON,
	}
	assert (success["row_count"], success["correlation_id"]) == (2, "trace-safe")
	assert json.loads(success["details"]) == {"mode": "synchronous", "safe_mode": True}
	status = SRSPersistenceService().get_persistence_status(job_id)
	assert (status["status"], status["source"], status["row_count"]) == ("finished", "audit_log", 2)
	assert runtime.fetch_job(job_id) is None


def test_an_empty_safe_mode_batch_writes_nothing(unreachable_redis, db):
	assert persistence.persist_safe_mode_batch([], PLAYER, SEASON) == batch_of([], PLAYER, SEASON).job_id
	assert audit_rows(db) == [] and resync_reasons(db) == []


def test_a_safe_mode_batch_that_cannot_be_written_raises(unreachable_redis, db, short_lock_waits):
	persistence.persist_review_batch([card("q1", "r0", time.time() - 100)], PLAYER, SEASON)
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		with pytest.raises(PersistenceFailed, match="Lock wait timeout"):
			persistence.persist_safe_mode_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	finally:
		lock.release()
	assert rows(db)["q1"]["last_review_id"] == "r0"
	assert [r["status"] for r in audit_rows(db)] == ["Retry", "Retry", "Failed"]
	assert resync_reasons(db) == [(PLAYER, SEASON, UNSETTLED)]  # the first write's; no safe-mode mark


def test_with_the_queue_unreachable_a_batch_is_written_at_once(db, monkeypatch, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	monkeypatch.setenv("MEMORA_QUEUE_URL", f"redis://127.0.0.1:{free_port()}/0")
	states = [card("q1", "r1", time.time())]
	job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	assert job_id == batch_of(states, PLAYER, SEASON).job_id
	assert rows(db)["q1"]["last_review_id"] == "r1"
	(success,) = audit_rows(db)
	details = json.loads(success["details"])
	assert (success["status"], success["job_id"], details["mode"]) == ("Success", job_id, "synchronous")
	assert "Connection refused" in details["queue_error"]
	assert resync_reasons(db) == []  # Redis answers: nothing to re-sync
	(line,) = logged(caplog, "persist_queue_unavailable")
	assert (line["job_id"], line["level"]) == (job_id, "WARNING") and "Connection refused" in line["error"]
	assert persistence.get_persistence_status(job_id)["status"] == "finished"


# --- recovery of jobs whose worker died (the state it leaves, made by RQ's own calls) ------------


def test_a_job_whose_worker_died_is_put_back_and_then_lands(db, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	taken_by_a_dead_worker(job_id)
	assert persistence.recover_abandoned_jobs() == [job_id]
	job = runtime.fetch_job(job_id)
	assert (job.status, job.redeliveries) == ("queued", 1)
	assert logged(caplog, "persist_job_redelivered") == [
		{"job_id": job_id, "redeliveries": 1, "level": "INFO"}
	]
	assert persistence.recover_abandoned_jobs() == []
	run_queued_jobs()
	assert rows(db)["q1"]["last_review_id"] == "r1"
	assert runtime.fetch_job(job_id).status == "finished"


def test_a_batch_that_keeps_killing_its_workers_is_given_up_once(db):
	states = [card("q1", "r1", time.time()), card("q2", "r2", time.time())]
	with runtime.correlation("trace-dying"):
		job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	with runtime.override_settings(max_retries=1):
		taken_by_a_dead_worker(job_id)
		assert persistence.recover_abandoned_jobs() == [job_id]  # redelivery 1 of 1
		taken_by_a_dead_worker(job_id)
		assert persistence.recover_abandoned_jobs() == []
		assert persistence.recover_abandoned_jobs() == []
	(failed,) = audit_rows(db)
	assert {k: failed[k] for k in ("status", "job_id", "attempt", "player", "season", "row_count")} == {
		"status": "Failed",
		"job_id": job_id,
		"attempt": 2,
		"player": PLAYER,
		"season": SEASON,
		"row_count": 2,
	}
	assert failed["correlation_id"] == "trace-dying"
	assert failed["error"] == "the worker died under this batch 2 times"
	assert json.loads(failed["details"])["responses"] == batch_of(states, PLAYER, SEASON).states
	assert [f["job_id"] for f in persistence.failed_batches()] == [job_id]
	assert rows(db) == {}


def test_recovery_leaves_other_jobs_alone(db):
	other = runtime.enqueue(
		"tests.test_persistence_worker.fail", queue="short", job_id="not-persistence", timeout=1
	)
	taken_by_a_dead_worker(other)  # its short timeout puts it first in the started registry
	job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	taken_by_a_dead_worker(job_id)
	assert persistence.recover_abandoned_jobs() == [job_id]
	assert runtime.fetch_job(other).status == "started"


def test_a_job_taken_off_the_queue_by_a_dying_worker_is_put_back_once(db, monkeypatch, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	queue = runtime.rq_queue(runtime.settings().persistence_queue)
	assert runtime.queue_connection().lpop(queue.key).decode() == job_id  # the dying worker's BLPOP
	assert persistence.recover_abandoned_jobs() == []  # a live worker may still be starting it
	monkeypatch.setattr(persistence_jobs, "STRANDED_AFTER", 0)
	assert persistence.recover_abandoned_jobs() == [job_id]
	assert logged(caplog, "persist_job_redelivered") == [
		{"job_id": job_id, "stranded": True, "level": "INFO"}
	]
	assert persistence.recover_abandoned_jobs() == []
	run_queued_jobs()
	assert rows(db)["q1"]["last_review_id"] == "r1"
	gone = persistence.queue_review_batch([card("q2", "r2", time.time())], PLAYER, SEASON)
	runtime.delete_job(gone)  # a job that no longer exists is forgotten by the index
	assert persistence.recover_abandoned_jobs() == []
	assert runtime.queue_connection().zcard(in_flight.index_key()) == 0


# --- status and failed batches, field by field ----------------------------------------------------


def recent_utc(value: str) -> bool:
	"""An ISO 8601 UTC time from the last minute."""
	when = datetime.fromisoformat(value)
	return when.utcoffset() == timedelta(0) and abs(time.time() - when.timestamp()) < 60


def test_status_of_a_job_in_the_queue_then_finished(db):
	with runtime.correlation("trace-status"):
		job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	queued = persistence.get_persistence_status(job_id)
	assert {k: v for k, v in queued.items() if k != "enqueued_at"} == {
		"job_id": job_id,
		"status": "queued",
		"source": "queue",
		"player": PLAYER,
		"season": SEASON,
		"row_count": 1,
		"correlation_id": "trace-status",
		"started_at": None,
		"ended_at": None,
		"redeliveries": 0,
		"result": None,
		"error": None,
	}
	assert datetime.fromisoformat(queued["enqueued_at"])
	run_queued_jobs()
	finished = persistence.get_persistence_status(job_id)
	assert (finished["status"], finished["result"], finished["error"]) == (
		"finished",
		{"success": True, "processed_count": 1, "failed_count": 0, "errors": []},
		None,
	)
	assert queued["enqueued_at"] <= finished["started_at"] <= finished["ended_at"]
	assert persistence.get_persistence_status("memora-persist-unknown") is None


def test_status_of_a_job_that_failed_names_its_error(db, short_lock_waits):
	persistence.persist_review_batch([card("q1", "r0", time.time() - 100)], PLAYER, SEASON)
	job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	taken_by_a_dead_worker(job_id)
	persistence.recover_abandoned_jobs()
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		with runtime.override_settings(max_retries=0):
			run_queued_jobs()
	finally:
		lock.release()
	status = persistence.get_persistence_status(job_id)
	assert (status["status"], status["redeliveries"]) == ("failed", 1)
	assert status["error"].startswith(
		"memora.services.srs.persistence.write.PersistenceFailed: OperationalError"
	)


def test_status_from_the_audit_log_once_the_queue_forgot_the_job(db):
	with runtime.correlation("trace-audit"):
		job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	forget_jobs()
	with runtime.correlation("trace-audit"):
		persistence.persist_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)  # Success row
	audit_log.write(
		[
			audit_log.entry(
				OPERATION, "Success", job_id=job_id, attempt=2, player=PLAYER, season=SEASON, row_count=1
			)
		]
	)
	status = persistence.get_persistence_status(job_id)
	assert recent_utc(status.pop("ended_at"))
	assert status == {
		"job_id": job_id,
		"status": "finished",
		"source": "audit_log",
		"player": PLAYER,
		"season": SEASON,
		"row_count": 1,
		"correlation_id": runtime.correlation_id(),
		"attempt": 2,
		"error": None,
	}


def test_status_reads_only_persistence_rows_and_names_a_bad_id(db):
	audit_log.write([audit_log.entry("archive_season", "Success", job_id="memora-persist-archive")])
	assert persistence.get_persistence_status("memora-persist-archive") is None
	with pytest.raises(ValidationError) as refused:
		persistence.get_persistence_status("")
	assert refused.value.field == "job_id"


def test_an_audit_status_without_a_job_status_reads_as_itself(db):
	audit_log.write([audit_log.entry(OPERATION, "Correction", job_id="memora-persist-corrected")])
	assert persistence.get_persistence_status("memora-persist-corrected")["status"] == "correction"


def failed_in_the_queue_only(states: list[dict], player: str = PLAYER) -> str:
	"""A batch whose job failed while its Failed row could not be written (the database was away when
	it gave up): in RQ's failed registry, not in SRS Audit Log."""
	with runtime.correlation("trace-" + player):
		job_id = persistence.queue_review_batch(states, player, SEASON)
	lock = RowLock(player, SEASON, states[0]["question_id"])
	try:
		with runtime.override_settings(max_retries=0):
			run_queued_jobs()
	finally:
		lock.release()
	# The failed job's handler replaced the connection: give the new one the short lock waits too.
	runtime.db().sql("set session innodb_lock_wait_timeout = 1")
	runtime.db().sql(f"delete from {AUDIT_LOG} where job_id = %s", (job_id,))
	runtime.db().commit()
	return job_id


def test_failed_batches_from_the_queue_and_the_audit_log_oldest_first(db, short_lock_waits):
	now = time.time()
	for player in ("a@x.com", "b@x.com", "c@x.com"):
		persistence.persist_review_batch([card("q1", "r0", now - 100)], player, SEASON)
	from_queue = failed_in_the_queue_only([card("q1", "r1", now), card("q2", "r2", now)], "a@x.com")
	b_states = [card("q1", "r3", now)]
	in_both = failed_in_the_queue_only(b_states, "b@x.com")
	lock = RowLock("c@x.com", SEASON, "q1")
	try:
		with runtime.correlation("trace-c@x.com"), runtime.override_settings(max_retries=0):
			persistence.persist_review_batch([card("q1", "r4", now)], "c@x.com", SEASON)
	finally:
		lock.release()
	from_log = audit_rows(db, "Failed")[0]["job_id"]
	b_failed = audit_log.entry(
		OPERATION,
		"Failed",
		job_id=in_both,
		player="b@x.com",
		season=SEASON,
		row_count=1,
		details={"responses": batch_of(b_states, "b@x.com", SEASON).states},
	)
	audit_log.write([b_failed])  # its Failed row written after all

	failed = persistence.failed_batches()
	assert [(f["job_id"], f["source"]) for f in failed] == [
		(from_queue, "queue"),
		(from_log, "audit_log"),
		(in_both, "audit_log"),
	]
	queue_entry = failed[0]
	assert recent_utc(queue_entry.pop("failed_at"))
	assert queue_entry.pop("error").startswith("memora.services.srs.persistence.write.PersistenceFailed")
	assert queue_entry == {
		"job_id": from_queue,
		"player": "a@x.com",
		"season": SEASON,
		"row_count": 2,
		"correlation_id": "trace-a@x.com",
		"source": "queue",
	}
	log_entry = failed[1]
	assert recent_utc(log_entry.pop("failed_at"))
	assert "Lock wait timeout" in log_entry.pop("error")
	assert log_entry == {
		"job_id": from_log,
		"player": "c@x.com",
		"season": SEASON,
		"row_count": 1,
		"correlation_id": "trace-c@x.com",
		"source": "audit_log",
	}
	assert [f["job_id"] for f in persistence.failed_batches(limit=1)] == [from_queue]

	replayed = persistence.replay_failed()
	assert replayed == {"replayed": [from_queue, from_log, in_both], "failed": [], "not_found": []}
	run_queued_jobs()
	assert {p: rows(db, p)["q1"]["last_review_id"] for p in ("a@x.com", "b@x.com", "c@x.com")} == {
		"a@x.com": "r1",
		"b@x.com": "r3",
		"c@x.com": "r4",
	}
	assert rows(db, "a@x.com")["q2"]["last_review_id"] == "r2"
	assert persistence.failed_batches() == []


def test_a_job_that_died_with_its_worker_is_a_failed_batch(db):
	other = runtime.enqueue("tests.test_persistence_worker.fail", queue="short", job_id="not-persistence")
	run_queued_jobs()  # another job's failure, earlier in the failed registry
	assert runtime.fetch_job(other).status == "failed"
	job_id = persistence.queue_review_batch([card("q1", "r-died", time.time())], PLAYER, SEASON)
	taken_by_a_dead_worker(job_id)
	queue = runtime.rq_queue(runtime.settings().persistence_queue)
	queue.started_job_registry.cleanup(time.time() + 10**6)  # RQ's clean-up: to the failed registry
	(failed,) = persistence.failed_batches()
	assert (failed["job_id"], failed["error"], failed["source"]) == (job_id, "died with its worker", "queue")
	assert datetime.fromisoformat(failed["failed_at"])


def test_with_the_queue_unreachable_failed_batches_come_from_the_audit_log(db, monkeypatch, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	audit_log.write(
		[audit_log.entry(OPERATION, "Failed", job_id="memora-persist-x", player=PLAYER, season=SEASON)]
	)
	monkeypatch.setenv("MEMORA_QUEUE_URL", f"redis://127.0.0.1:{free_port()}/0")
	assert [f["job_id"] for f in persistence.failed_batches()] == ["memora-persist-x"]
	(line,) = logged(caplog, "persist_failed_jobs_unreadable")
	assert line["level"] == "WARNING" and "Connection refused" in line["error"]
	assert persistence.get_persistence_status("memora-persist-x")["status"] == "failed"


def test_a_replay_that_fails_again_is_reported_with_its_error(db, monkeypatch, short_lock_waits):
	persistence.persist_review_batch([card("q1", "r0", time.time() - 100)], PLAYER, SEASON)
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		with runtime.override_settings(max_retries=0):
			persistence.persist_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
			job_id = audit_rows(db, "Failed")[0]["job_id"]
			monkeypatch.setenv("MEMORA_QUEUE_URL", f"redis://127.0.0.1:{free_port()}/0")
			replayed = persistence.replay_failed()  # queue down: written at once, and refused again
	finally:
		lock.release()
	(failed,) = replayed.pop("failed")
	assert replayed == {"replayed": [], "not_found": []}
	assert failed["job_id"] == job_id and "Lock wait timeout" in failed["error"]
	assert [r["status"] for r in audit_rows(db)] == ["Failed", "Replayed", "Failed"]
	assert [f["job_id"] for f in persistence.failed_batches()] == [job_id]


def test_replay_takes_the_limit_oldest_and_the_ids_asked_for(db, short_lock_waits):
	now = time.time()
	job_ids = []
	for player in ("a@x.com", "b@x.com", "c@x.com"):
		persistence.persist_review_batch([card("q1", "r0", now - 100)], player, SEASON)
		job_ids.append(failed_in_the_queue_only([card("q1", "r1", now)], player))
	assert persistence.replay_failed(limit=1)["replayed"] == job_ids[:1]
	asked = persistence.replay_failed([job_ids[2], "memora-persist-nope"], limit=1)
	assert asked == {"replayed": [job_ids[2]], "failed": [], "not_found": ["memora-persist-nope"]}
	assert [f["job_id"] for f in persistence.failed_batches()] == [job_ids[1]]
	(replayed, *_) = audit_rows(db, "Replayed")
	assert json.loads(replayed["details"]) == {"source": "queue"}
	assert (replayed["job_id"], replayed["player"], replayed["row_count"]) == (job_ids[0], "a@x.com", 1)
	assert replayed["correlation_id"] == "trace-a@x.com"
	for bad, field in ((0, "limit"), (LIST_MAX + 1, "limit")):
		with pytest.raises(ValidationError) as refused:
			persistence.replay_failed(limit=bad)
		assert refused.value.field == field
	with pytest.raises(ValidationError) as refused:
		persistence.replay_failed(["memora-persist-ok", ""])
	assert refused.value.field == "job_ids[1]"
	assert len(persistence.failed_batches(limit=LIST_MAX)) == 1
	with pytest.raises(ValidationError) as refused:
		persistence.failed_batches(limit=LIST_MAX + 1)
	assert refused.value.field == "limit"


# --- a player erased after their answers: nothing of theirs is written, marks and audit rows included --


def test_safe_mode_answers_of_an_erased_player_leave_no_mark(unreachable_redis, db):
	erased = erased_now()
	persistence.persist_safe_mode_batch([card("q1", "r1", erased - 5)], PLAYER, SEASON)
	assert rows(db) == {} and resync_reasons(db) == []


def test_retries_of_an_erased_players_batch_are_not_audited(db, short_lock_waits, monkeypatch, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	erased = erased_now()
	lock = HeldLock(f"select name from {ERASURES} for update")  # an erasure being written
	release_at_first_retry(monkeypatch, lock)
	outcome = persistence.persist_review_batch([card("q1", "r1", erased - 5)], PLAYER, SEASON)
	assert outcome["success"] and rows(db) == {}
	assert len(logged(caplog, "persist_retry")) == 1  # the first attempt waited on the erasure
	assert audit_rows(db) == []


def test_rows_carry_the_time_of_their_write(db):
	before = runtime.now().replace(microsecond=0)
	persistence.persist_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	after = runtime.now()
	row = rows(db)["q1"]
	assert before <= row["creation"] == row["modified"] <= after
	(logged_at,) = db.sql("select creation from `tabMemora Review Log` where name = 'r1'")[0]
	assert before <= logged_at <= after


def test_the_service_counts_the_attempts_already_spent(db, short_lock_waits):
	persistence.persist_review_batch([card("q1", "r0", time.time() - 100)], PLAYER, SEASON)
	service = SRSPersistenceService()
	lock = RowLock(PLAYER, SEASON, "q1")
	try:
		service.persist_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON, retry_count=2)
		first = [r["attempt"] for r in audit_rows(db)]
		service.persist_review_batch([card("q1", "r2", time.time())], PLAYER, SEASON)
	finally:
		lock.release()
	assert first == [3]  # the last of MAX_RETRIES + 1
	assert [r["attempt"] for r in audit_rows(db)][1:] == [1, 2, 3]


# --- a batch's canonical states: defaults, bounds and the field each refusal names -----------------

MINIMAL = {"question_id": "q1", "next_review_ts": 100.0, "stability": 1.5}


def normalised(response: dict, now_ts: float = 50.0) -> dict:
	return normalise_state(response, "responses[3]", PLAYER, SEASON, now_ts)


def test_a_minimal_response_gets_every_default():
	state = normalised(MINIMAL)
	assert state.pop("review_id").startswith("srs-")
	assert state == {
		"question_id": "q1",
		"reviewed_at": 50.0,
		"next_review_ts": 100.0,
		"stability": 1.5,
		"difficulty": 0.0,
		"state": "Review",
		"step": 0,
		"reps": 0,
		"lapses": 0,
		"last_rating": 0,
		"subject": None,
		"topic": None,
		"duration_ms": 0,
		"elapsed_days": 0.0,
		"state_before": None,
		"stability_before": 0.0,
		"difficulty_before": 0.0,
		"scheduler": None,
		"parameters_version": None,
	}


FULL = {
	"question_id": "q1",
	"review_id": "r1",
	"reviewed_at": 40.5,
	"next_review_ts": 100.0,
	"stability": 1.5,
	"difficulty": 6.25,
	"state": "Relearning",
	"step": 2,
	"reps": 7,
	"lapses": 3,
	"last_rating": 1,
	"subject": "math",
	"topic": "algebra",
	"duration_ms": 4200,
	"elapsed_days": 3.5,
	"state_before": "Review",
	"stability_before": 9.0,
	"difficulty_before": 5.5,
	"scheduler": "fsrs",
	"parameters_version": "v2",
}


def test_every_field_given_is_kept():
	assert normalised(FULL) == FULL


def test_the_review_id_is_derived_from_the_whole_response_when_none_is_given():
	derived = normalised(MINIMAL)["review_id"]
	assert normalised({**MINIMAL, "review_id": ""})["review_id"] != derived  # a different response
	assert normalised(dict(reversed(MINIMAL.items())))["review_id"] == derived
	assert normalised({**MINIMAL, "topic": "x"})["review_id"] != derived
	assert normalise_state(MINIMAL, "r", "other@x.com", SEASON, 50.0)["review_id"] != derived
	assert normalise_state(MINIMAL, "r", PLAYER, "S2", 50.0)["review_id"] != derived


def test_the_spec_aliases_are_read_when_the_names_are_missing():
	state = normalised({"question_id": "q1", "new_stability": 2.0, "new_next_review_date": 70.0})
	assert (state["stability"], state["next_review_ts"]) == (2.0, 70.0)
	both = normalised({**MINIMAL, "new_stability": 9.0, "new_next_review_date": 90.0})
	assert (both["stability"], both["next_review_ts"]) == (1.5, 100.0)


def test_times_are_read_from_numbers_datetimes_and_iso_text():
	when = datetime(2026, 1, 21, 12, 30, tzinfo=timezone.utc)
	for given in (when.timestamp(), int(when.timestamp()), when, when.isoformat()):
		assert normalised({**MINIMAL, "reviewed_at": given})["reviewed_at"] == when.timestamp()
	assert normalised({**MINIMAL, "next_review_ts": 0.0})["next_review_ts"] == 0.0
	assert normalised({**MINIMAL, "next_review_ts": 32503680000.0})["next_review_ts"] == 32503680000.0


@pytest.mark.parametrize(
	("change", "field", "message"),
	[
		({"reviewed_at": -0.001}, "reviewed_at", "must be a Unix time in seconds between 1970 and 3000"),
		(
			{"reviewed_at": 32503680000.5},
			"reviewed_at",
			"must be a Unix time in seconds between 1970 and 3000",
		),
		(
			{"reviewed_at": float("nan")},
			"reviewed_at",
			"must be a Unix time in seconds between 1970 and 3000",
		),
		({"reviewed_at": "yesterday"}, "reviewed_at", "must be a Unix time or an ISO 8601 date-time"),
		(
			{"next_review_ts": 1.7e12},
			"next_review_ts",
			"must be a Unix time in seconds between 1970 and 3000",
		),
		(
			{"next_review_ts": None, "new_next_review_date": "soon"},
			"new_next_review_date",
			"must be a Unix time or an ISO 8601 date-time",
		),
		({"state": "Forgotten"}, "state", "must be one of New, Learning, Review, Relearning"),
		({"state_before": "Forgotten"}, "state_before", "must be one of New, Learning, Review, Relearning"),
		({"stability": -1}, "stability", "must be at least 0"),
		({"stability": None, "new_stability": 1e12}, "new_stability", "must be at most 1e+12"),
		({"difficulty": 1e12}, "difficulty", "must be at most 1e+12"),
		({"step": 2**31}, "step", "must be at most 2147483647"),
		({"reps": -1}, "reps", "must be at least 0"),
		({"lapses": 2**31}, "lapses", "must be at most 2147483647"),
		({"last_rating": 6}, "last_rating", "must be at most 5"),
		({"duration_ms": 2**31}, "duration_ms", "must be at most 2147483647"),
		({"elapsed_days": 1e12}, "elapsed_days", "must be at most 1e+12"),
		({"stability_before": -0.5}, "stability_before", "must be at least 0"),
		({"difficulty_before": 1e12}, "difficulty_before", "must be at most 1e+12"),
		({"subject": "a\x00"}, "subject", None),
		({"topic": "a\x00"}, "topic", None),
		({"scheduler": "a\x00"}, "scheduler", None),
		({"parameters_version": "a\x00"}, "parameters_version", None),
		({"review_id": "x" * 141}, "review_id", None),
		({"question_id": ""}, "question_id", None),
	],
)
def test_a_bad_value_is_refused_naming_its_place_and_field(change, field, message):
	with pytest.raises(ValidationError) as refused:
		normalised({**MINIMAL, **change})
	assert refused.value.field == f"responses[3].{field}"
	assert message is None or refused.value.message == message


INTEGER_FIELDS = {
	"step": INT_MAX,
	"reps": INT_MAX,
	"lapses": INT_MAX,
	"last_rating": RATING_MAX,
	"duration_ms": INT_MAX,
}
DECIMAL_FIELDS = ("stability", "difficulty", "elapsed_days", "stability_before", "difficulty_before")


@pytest.mark.parametrize(
	("field", "value"),
	[
		*((field, -1) for field in INTEGER_FIELDS),
		*((field, largest + 1) for field, largest in INTEGER_FIELDS.items()),
		*((field, -0.5) for field in DECIMAL_FIELDS),
		*((field, DECIMAL_MAX * 2) for field in DECIMAL_FIELDS),
	],
)
def test_every_number_is_bounded_both_ways(field, value):
	with pytest.raises(ValidationError) as refused:
		normalised({**MINIMAL, field: value})
	assert refused.value.field == f"responses[3].{field}"


def test_the_largest_values_each_column_holds_are_accepted():
	largest = {
		"stability": DECIMAL_MAX,
		"difficulty": DECIMAL_MAX,
		"step": INT_MAX,
		"reps": INT_MAX,
		"lapses": INT_MAX,
		"last_rating": RATING_MAX,
		"duration_ms": INT_MAX,
		"elapsed_days": DECIMAL_MAX,
		"stability_before": DECIMAL_MAX,
		"difficulty_before": DECIMAL_MAX,
	}
	state = normalised({**MINIMAL, **largest})
	assert {k: state[k] for k in largest} == largest
	zeros = normalised({**MINIMAL, **dict.fromkeys(largest, 0)})
	assert {k: zeros[k] for k in largest} == dict.fromkeys(largest, 0)


def test_a_batch_must_be_a_list_of_objects_of_bounded_length():
	with pytest.raises(ValidationError) as refused:
		normalise_batch({"question_id": "q1"}, PLAYER, SEASON)
	assert (refused.value.field, refused.value.message) == ("responses", "must be a list")
	with pytest.raises(ValidationError) as refused:
		normalise_batch([MINIMAL] * (MAX_BATCH + 1), PLAYER, SEASON)
	assert (refused.value.field, refused.value.message) == (
		"responses",
		f"must hold at most {MAX_BATCH} reviews",
	)
	assert len(normalise_batch((MINIMAL,) * MAX_BATCH, PLAYER, SEASON)) == MAX_BATCH
	with pytest.raises(ValidationError) as refused:
		normalise_batch([MINIMAL, "q2"], PLAYER, SEASON)
	assert (refused.value.field, refused.value.message) == ("responses[1]", "must be an object")


def test_a_batch_is_stamped_with_the_time_it_was_accepted():
	before = time.time()
	(state,) = normalise_batch(
		[{"question_id": "q1", "next_review_ts": 1.0, "stability": 1.0}], PLAYER, SEASON
	)
	assert before <= state["reviewed_at"] <= time.time()


def test_a_batch_names_its_player_and_season_canonically():
	batch = batch_of([MINIMAL], PLAYER, SEASON)
	assert (batch.user, batch.season, len(batch.states)) == (PLAYER, SEASON, 1)
	assert batch.states[0]["question_id"] == "q1"
	for user, season, field in (("", SEASON, "user"), (PLAYER, "S1;", "season")):
		with pytest.raises(ValidationError) as refused:
			batch_of([MINIMAL], user, season)
		assert refused.value.field == field


def test_a_batch_job_id_is_its_players_season_and_reviews():
	states = [{"review_id": "a"}, {"review_id": "b"}]
	job_id = batch_job_id(PLAYER, SEASON, states)
	assert job_id.startswith(JOB_ID_START) and len(job_id) == len(JOB_ID_START) + 20
	assert batch_job_id(PLAYER, SEASON, states[::-1]) == job_id
	others = [
		batch_job_id("other@x.com", SEASON, states),
		batch_job_id(PLAYER, "S2", states),
		batch_job_id(PLAYER, SEASON, states[:1]),
	]
	assert job_id not in others and len(set(others)) == 3
	assert batch_of([{**MINIMAL, "review_id": "a"}], PLAYER, SEASON).job_id == batch_job_id(
		PLAYER, SEASON, [{"review_id": "a"}]
	)


# --- the idempotency window, the clean-up after the commit, the lag ------------------------------


def test_a_repeat_within_the_window_skips_the_database_and_one_after_it_does_not(db, redis_client):
	states = [card("q1", "r1", time.time())]
	job_id = batch_of(states, PLAYER, SEASON).job_id
	moved = Moved()
	with runtime.override_settings(idempotency_window=1):
		persistence.persist_review_batch(states, PLAYER, SEASON)
		assert redis_client.pttl(runtime.key("srs-persisted", job_id)) in range(1, 1001)
		persistence.persist_review_batch(states, PLAYER, SEASON)  # within the second: skipped
	assert moved.after().lag_calls() == 1
	with runtime.override_settings(idempotency_window=0):
		persistence.persist_review_batch(states, PLAYER, SEASON)  # the key is still there: not asked
	assert moved.after().lag_calls() == 2
	assert rows(db)["q1"]["last_review_id"] == "r1"


def test_a_card_the_queue_holds_without_a_pending_state_is_synced_with_its_new_row(db, redis_client):
	now = time.time()
	SRSRedisManager().add_batch(PLAYER, SEASON, {"q1": now - 10})  # a live queue, no pending state
	persistence.persist_review_batch([card("q1", "r1", now)], PLAYER, SEASON)
	assert redis_client.zscore(keys.queue_key(PLAYER, SEASON), "q1") == pytest.approx(now + 86400)
	assert resync_reasons(db) == []


def test_a_card_whose_sync_runs_out_of_attempts_marks_its_queue_for_a_resync(
	db, redis_client, monkeypatch, caplog
):
	"""A sync gives up when the player's rows keep changing under it (here it is allowed no attempt):
	the card keeps its old score, and its queue is marked to be re-synced."""
	caplog.set_level(logging.INFO, logger="memora")
	now = time.time()
	SRSRedisManager().add_batch(PLAYER, SEASON, {"q1": now - 10})
	monkeypatch.setattr(queue_sync, "ATTEMPTS", 0)
	outcome = persistence.persist_review_batch([card("q1", "r1", now)], PLAYER, SEASON)
	assert outcome["success"] and rows(db)["q1"]["last_review_id"] == "r1"
	assert redis_client.zscore(keys.queue_key(PLAYER, SEASON), "q1") == pytest.approx(now - 10)
	assert resync_reasons(db) == [(PLAYER, SEASON, UNSETTLED)]
	assert [line["players"] for line in logged(caplog, "srs.queue_sync.gave_up")] == [1]


def test_an_erased_players_pending_states_are_left_to_the_erasure(db, redis_client):
	erased = erased_now()
	states = [card("q1", "r1", erased - 5)]
	record_pending(states)
	persistence.persist_review_batch(states, PLAYER, SEASON)
	assert rows(db) == {} and set(pending.get_all(PLAYER, SEASON)) == {"q1"}


def test_the_lag_of_each_review_is_recorded_in_milliseconds(db):
	reviewed_at = time.time() - 2
	moved = Moved()
	persistence.persist_review_batch([card(f"q{i}", f"r{i}", reviewed_at) for i in range(3)], PLAYER, SEASON)
	moved.after()
	assert moved.lag_calls() == 3
	assert 3 * 2000 <= moved.total_ms(metrics.PERSISTENCE_LAG) < 3 * 60_000


def test_listing_and_replay_take_a_hundred_unless_told(db):
	states = batch_of([card("q1", "r1", time.time())], PLAYER, SEASON).states
	audit_log.write(
		[
			audit_log.entry(
				OPERATION,
				"Failed",
				job_id=f"memora-persist-{n:03d}",
				player=PLAYER,
				season=SEASON,
				row_count=1,
				details={"responses": states},
			)
			for n in range(101)
		]
	)
	assert len(persistence.failed_batches()) == 100
	with pytest.raises(ValidationError) as refused:
		persistence.failed_batches(limit=0)
	assert refused.value.field == "limit"
	assert len(persistence.replay_failed()["replayed"]) == 100
	replayed = audit_rows(db, "Replayed")[0]
	assert (replayed["player"], replayed["season"], replayed["row_count"]) == (PLAYER, SEASON, 1)
	with pytest.raises(ValidationError) as refused:
		persistence.replay_failed("memora-persist-000")
	assert (refused.value.field, refused.value.message) == ("job_ids", "must be a list of job ids")


def test_the_attempts_already_spent_are_validated(db):
	with pytest.raises(ValidationError) as refused:
		persistence.persist_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON, retry_count=-1)
	assert refused.value.field == "retry_count"
	assert rows(db) == {}


def test_a_review_stamped_ahead_of_the_clock_has_no_lag(db):
	moved = Moved()
	persistence.persist_review_batch([card("q1", "r1", time.time() + 60)], PLAYER, SEASON)
	assert (moved.after().lag_calls(), moved.total_ms(metrics.PERSISTENCE_LAG)) == (1, 0)


def test_the_lag_is_the_time_since_the_review_in_milliseconds(db):
	reviewed_at = time.time() - 10_000
	moved = Moved()
	before = time.time()
	persistence.persist_review_batch([card("q1", "r1", reviewed_at)], PLAYER, SEASON)
	after = time.time()
	lag = moved.after().total_ms(metrics.PERSISTENCE_LAG)
	assert (before - reviewed_at) * 1000 <= lag <= (after - reviewed_at) * 1000
