"""SRSPersistenceService on real MariaDB and Redis: the upsert, its ordering and idempotency, input
validation, retries with their audit trail, status and replay. Worker and outage tests are in
test_srs_persistence_faults.py."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import audit_log
from memora.services.srs import pending, persistence
from memora.services.srs.card import tracker_name
from memora.services.srs.persistence import SRSPersistenceService
from memora.services.srs.persistence.batch import MAX_BATCH
from memora.tests.cards import card
from tests.persistence_data import (
	PLAYER,
	SEASON,
	RowLock,
	audit_rows,
	forget_jobs,
	release_at_first_retry,
	rows,
	session_inserts,
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
	batch = [card("q1", "later", now + 5, stability=4.0), card("q1", "earlier", now, stability=1.0)]
	assert persistence.persist_review_batch(batch, PLAYER, SEASON)["processed_count"] == 2
	assert rows(db)["q1"]["last_review_id"] == "later"


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
	assert persistence.persist_review_batch([], PLAYER, SEASON)["processed_count"] == 0
	assert persistence.get_persistence_status(persistence.queue_review_batch([], PLAYER, SEASON)) is None


# --- retries, final failure, status and replay (a held row lock makes the write time out) ---------


def test_transient_errors_are_retried_and_audited_with_the_correlation_id(db, short_lock_waits, monkeypatch):
	now = time.time()
	persistence.persist_review_batch([card("q1", "r0", now - 100)], PLAYER, SEASON)
	lock = RowLock(PLAYER, SEASON, "q1")
	release_at_first_retry(monkeypatch, lock)
	with runtime.correlation("trace-retry"):
		outcome = persistence.persist_review_batch([card("q1", "r1", now)], PLAYER, SEASON)
	assert outcome["success"]
	assert rows(db)["q1"]["last_review_id"] == "r1"
	trail = audit_rows(db)
	assert [r["status"] for r in trail] == ["Retry", "Success"]
	assert {r["correlation_id"] for r in trail} == {"trace-retry"}
	assert [r["attempt"] for r in trail] == [1, 2]
	assert "1205" in trail[0]["error"]  # lock wait timeout
	job_id = trail[0]["job_id"]
	status = persistence.get_persistence_status(job_id)
	assert (status["status"], status["source"], status["attempt"]) == ("finished", "audit_log", 2)


def test_final_failure_is_recorded_with_the_batch_and_can_be_replayed(db, short_lock_waits):
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
	assert "Lock wait timeout" in outcome["errors"][0]
	assert rows(db)["q1"]["last_review_id"] == "r0" and "q2" not in rows(db)  # nothing partly written
	trail = audit_rows(db)
	assert [(r["status"], r["attempt"]) for r in trail] == [("Retry", 1), ("Retry", 2), ("Failed", 3)]
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


def test_status_of_a_queued_job_and_of_an_unknown_id(db):
	with runtime.correlation("trace-status"):
		job_id = persistence.queue_review_batch([card("q1", "r1", time.time())], PLAYER, SEASON)
	status = persistence.get_persistence_status(job_id)
	assert {k: status[k] for k in ("job_id", "status", "source", "player", "season", "row_count")} == {
		"job_id": job_id,
		"status": "queued",
		"source": "queue",
		"player": PLAYER,
		"season": SEASON,
		"row_count": 1,
	}
	assert status["correlation_id"] == "trace-status"
	assert persistence.get_persistence_status("memora-persist-unknown") is None
	runtime.delete_job(job_id)


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
