"""Archiving seasons and the retention policy, on real MariaDB, Redis and RQ worker processes."""

import importlib
import inspect
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pymysql
import pytest

from memora import hooks, runtime
from memora.exceptions import NotAllowed, NotFound, ValidationError
from memora.services.srs import archiver, keys, retention
from memora.services.srs import partitions as pm
from memora.services.srs.card import tracker_name
from tests.harness.logs import logged
from tests.harness.workers import wait_until

LIVE = "`tabPlayer Memory Tracker`"
ARCHIVE = "`tabArchived Memory Tracker`"

pytestmark = pytest.mark.usefixtures("default_partition_only")


def add_season(
	db, name: str, active: int = 0, auto: int = 0, end: date | None = None, status: str = "Not Archived"
):
	end = end or date(2025, 6, 30)
	db.sql(
		"""insert into `tabMemora Season` (name, season_name, is_active, auto_archive, start_date, end_date,
		archive_status, creation, modified) values (%s, %s, %s, %s, %s, %s, %s, now(), now())""",
		(name, name, active, auto, end - timedelta(days=90), end, status),
	)
	db.commit()


def add_trackers(db, season: str, count: int, players: int = 10) -> None:
	"""`count` trackers named the way persistence names them, spread over `players` players."""
	db.sql(
		f"""insert into {LIVE} (name, player, season, question_id, stability, reps, next_review_date,
			last_review_date, creation, modified)
		select left(sha1(concat('p', seq mod %s, '@x.com', char(0), %s, char(0), 'q', seq)), 20),
			concat('p', seq mod %s, '@x.com'), %s, concat('q', seq), seq / 10, seq mod 7,
			now() + interval seq minute, now() - interval 1 day, now(), now() - interval 1 hour
		from seq_1_to_{int(count)}""",
		(players, season, players, season),
	)
	db.commit()


def live_count(db, season: str) -> int:
	db.rollback()
	return db.sql(f"select count(*) from {LIVE} where season = %s", (season,))[0][0]


def archived_count(db, season: str) -> int:
	db.rollback()
	return db.sql(f"select count(*) from {ARCHIVE} where season = %s", (season,))[0][0]


def season_row(db, name: str) -> dict:
	db.rollback()
	return db.sql("select * from `tabMemora Season` where name = %s", (name,), as_dict=True)[0]


def seed_redis(client, season: str, players: list[str]) -> None:
	for player in players:
		client.zadd(keys.queue_key(player, season), {"q1": 1.0})
		client.set(keys.empty_marker_key(player, season), "1")
		client.sadd(keys.season_player_set(season, player), player)


def redis_keys(client, season: str, players: list[str]) -> list[str]:
	found = keys.season_players_keys(season)
	for player in players:
		found += [keys.queue_key(player, season), keys.empty_marker_key(player, season)]
	return [k for k in found if client.exists(k)]


def check_table(db) -> list[str]:
	return [row[3] for row in db.sql(f"check table {LIVE}")]


def handler_deletes(db) -> int:
	return int(db.sql("show session status like 'Handler_delete'")[0][1])


def copied_not_truncated(db, season: str, count: int) -> archiver.SRSArchiver:
	"""An ended season of `count` rows in its own partition, copied to the archive but not yet truncated:
	where an archive run that died between the two steps leaves it."""
	add_season(db, season)
	add_trackers(db, season, count)
	pm.create_partition(season)
	archive = archiver.SRSArchiver()
	archive.copy_partition(season, count, None)
	return archive


def once(action: Callable[[], None]) -> Callable[[int, int], None]:
	"""A progress callback that runs `action` after the first chunk only: a write that lands while the
	archive is copying."""
	pending = [action]

	def progress(done: int, total: int) -> None:
		if pending:
			pending.pop()()

	return progress


def test_archive_moves_every_row_clears_redis_and_records_the_outcome(db, redis_client):
	add_season(db, "Spring 2025")
	add_season(db, "Summer 2025", active=1)
	add_trackers(db, "Spring 2025", 1200)
	add_trackers(db, "Summer 2025", 300)
	players = [f"p{i}@x.com" for i in range(10)]
	seed_redis(redis_client, "Spring 2025", players)
	seed_redis(redis_client, "Summer 2025", players)
	before = db.sql(f"select player, question_id, stability, reps from {LIVE} where season = 'Spring 2025'")
	deletes = handler_deletes(db)

	with runtime.override_settings(archive_chunk_size=250):
		result = archiver.archive_season("Spring 2025")

	assert result == {"success": True, "archived_count": 1200, "season": "Spring 2025", "error": None}
	assert (live_count(db, "Spring 2025"), archived_count(db, "Spring 2025")) == (0, 1200)
	assert sorted(before) == sorted(
		db.sql(f"select player, question_id, stability, reps from {ARCHIVE} where season = 'Spring 2025'")
	)
	# The live rows went with TRUNCATE PARTITION, not row by row.
	assert handler_deletes(db) == deletes
	assert live_count(db, "Summer 2025") == 300
	assert check_table(db) == ["OK"]
	assert redis_keys(redis_client, "Spring 2025", players) == []
	summer_sets = {keys.season_player_set("Summer 2025", player) for player in players}
	assert len(redis_keys(redis_client, "Summer 2025", players)) == 20 + len(summer_sets)
	season = season_row(db, "Spring 2025")
	assert (season["archive_status"], season["archived_records"], season["archive_error"]) == (
		"Archived",
		1200,
		None,
	)
	assert season["archived_on"] is not None
	assert audit_rows(db, "archive_season") == [("Success", "Spring 2025", 1200)]


def audit_rows(db, operation: str) -> list[tuple]:
	db.rollback()
	return [
		tuple(row)
		for row in db.sql(
			"select status, season, row_count from `tabSRS Audit Log` where operation = %s order by creation",
			(operation,),
		)
	]


def test_archived_rows_are_named_by_their_unique_key(db):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 5)
	archiver.archive_season("Spring 2025")
	for name, player, question_id in db.sql(f"select name, player, question_id from {ARCHIVE}"):
		assert name == tracker_name(player, "Spring 2025", question_id)


def test_rows_without_copy_finds_a_lost_archive_row(db):
	archive = copied_not_truncated(db, "Spring 2025", 30)
	partition = pm.partition_id("Spring 2025")
	assert archive.rows_without_copy(partition) == 0
	db.sql(f"delete from {ARCHIVE} where question_id = 'q7'")
	db.commit()
	assert archive.rows_without_copy(partition) == 1
	names = sorted(row[0] for row in db.sql(f"select name from {LIVE}"))
	assert archive.rows_without_copy(partition, "", names[-1]) == 1
	assert archive.rows_without_copy(partition, names[-1]) == 0


def test_archive_refuses_active_and_unknown_seasons(db):
	add_season(db, "Summer 2025", active=1)
	add_trackers(db, "Summer 2025", 20)
	active = archiver.archive_season("Summer 2025")
	assert (active["success"], active["archived_count"]) == (False, 0)
	assert "active" in active["error"]
	unknown = archiver.archive_season("Nope 1999")
	assert unknown["success"] is False and "does not exist" in unknown["error"]
	assert live_count(db, "Summer 2025") == 20
	assert archived_count(db, "Summer 2025") == 0
	with pytest.raises(ValidationError):
		archiver.archive_season("x'; drop table t; --")


def test_rows_of_a_season_without_partition_get_one_first(db):
	add_season(db, "Spring 2025")
	for season in ("Spring 2025", "Summer 2025", "Autumn 2025"):
		add_trackers(db, season, 100)
	assert not pm.has_partition("Spring 2025")
	assert archiver.archive_season("Spring 2025")["archived_count"] == 100
	assert pm.has_partition("Spring 2025")
	assert [live_count(db, s) for s in ("Spring 2025", "Summer 2025", "Autumn 2025")] == [0, 100, 100]
	assert check_table(db) == ["OK"]


@pytest.mark.fault
def test_archive_killed_mid_copy_then_rerun_gives_exact_counts(db, workers):
	"""SIGKILL a process in the middle of archiving, then archive again through a worker."""
	total = 60_000
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", total, players=50)
	archiving = subprocess.Popen(
		[
			sys.executable,
			"-c",
			"from memora.services.srs import archiver; archiver.archive_season('Spring 2025')",
		],
		env={**os.environ, "MEMORA_ARCHIVE_CHUNK_SIZE": "100"},
	)
	try:
		assert wait_until(lambda: archived_count(db, "Spring 2025") > 0, timeout=30, interval=0.01)
	finally:
		archiving.kill()
		archiving.wait(timeout=10)
	copied = archived_count(db, "Spring 2025")
	assert 0 < copied < total, "the kill must land mid-copy"
	assert live_count(db, "Spring 2025") == total
	assert season_row(db, "Spring 2025")["archive_status"] == "In Progress"

	workers("long")
	job = archiver.queue_archive("Spring 2025")["job_id"]
	assert wait_until(lambda: runtime.fetch_job(job).status == "finished", timeout=60)
	assert runtime.fetch_job(job).result["success"] is True
	assert (live_count(db, "Spring 2025"), archived_count(db, "Spring 2025")) == (0, total)
	distinct = db.sql(
		f"select count(distinct player, question_id) from {ARCHIVE} where season = 'Spring 2025'"
	)
	assert distinct[0][0] == total
	assert season_row(db, "Spring 2025")["archived_records"] == total


def test_rerun_after_the_copy_but_before_the_truncate(db):
	archive = copied_not_truncated(db, "Spring 2025", 400)
	assert archived_count(db, "Spring 2025") == 400

	assert archive.archive_season("Spring 2025")["archived_count"] == 400
	assert (live_count(db, "Spring 2025"), archived_count(db, "Spring 2025")) == (0, 400)


def test_rerun_after_the_truncate_finishes_the_bookkeeping(db, redis_client):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 50)
	archiver.archive_season("Spring 2025")
	# As if the first run died after TRUNCATE, before Redis and the season row were done.
	db.sql("update `tabMemora Season` set archive_status = 'In Progress', archived_records = 0")
	db.commit()
	seed_redis(redis_client, "Spring 2025", ["p1@x.com"])

	result = archiver.archive_season("Spring 2025")
	assert (result["success"], result["archived_count"]) == (True, 0)
	assert (
		season_row(db, "Spring 2025")["archive_status"],
		season_row(db, "Spring 2025")["archived_records"],
	) == (
		"Archived",
		50,
	)
	assert redis_keys(redis_client, "Spring 2025", ["p1@x.com"]) == []


def test_a_write_during_the_copy_keeps_every_live_row(db):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 300)

	def write_a_late_row():
		db.sql(
			f"insert into {LIVE} (name, player, season, question_id, modified) "
			"values ('late', 'p1@x.com', 'Spring 2025', 'q-late', now() + interval 1 second)"
		)
		db.commit()

	with runtime.override_settings(archive_chunk_size=100):
		result = archiver.archive_season("Spring 2025", progress=once(write_a_late_row))
	assert result["success"] is False
	assert result["error"] == (
		"Season 'Spring 2025' received writes while it was being archived; nothing was removed, archive it again"
	)
	assert live_count(db, "Spring 2025") == 301
	assert season_row(db, "Spring 2025")["archive_status"] == "Failed"

	assert archiver.archive_season("Spring 2025")["archived_count"] == 301
	assert (live_count(db, "Spring 2025"), archived_count(db, "Spring 2025")) == (0, 301)


def test_a_row_updated_during_the_copy_is_archived_in_its_new_version(db):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 300)
	# The first name in key order is in the first chunk, so it has been copied when the callback runs.
	first_copied = db.sql(f"select question_id from {LIVE} order by name limit 1")[0][0]

	def update_a_copied_row():
		db.sql(
			f"update {LIVE} set stability = 99, modified = now(6) + interval 1 second "
			"where season = 'Spring 2025' and question_id = %s",
			(first_copied,),
		)
		db.commit()

	with runtime.override_settings(archive_chunk_size=100):
		first = archiver.archive_season("Spring 2025", progress=once(update_a_copied_row))
	assert first["success"] is False and "received writes" in first["error"]
	assert archiver.archive_season("Spring 2025")["archived_count"] == 300
	stability = db.sql(f"select stability from {ARCHIVE} where question_id = %s", (first_copied,))[0][0]
	assert float(stability) == 99


def test_unpersisted_reviews_block_the_archive(db, redis_client):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 10)
	redis_client.sadd(keys.season_player_set("Spring 2025", "p1@x.com"), "p1@x.com")
	redis_client.hset(keys.pending_key("p1@x.com", "Spring 2025"), "q1", "{}")
	result = archiver.archive_season("Spring 2025")
	assert result["success"] is False and "not yet written" in result["error"]
	assert (live_count(db, "Spring 2025"), archived_count(db, "Spring 2025")) == (10, 0)
	assert season_row(db, "Spring 2025")["archive_status"] == "Failed"
	assert "not yet written" in season_row(db, "Spring 2025")["archive_error"]
	assert audit_rows(db, "archive_season") == [("Failed", "Spring 2025", 0)]


def test_a_second_archiver_of_the_same_season_is_turned_away(db):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 10)
	archive = archiver.SRSArchiver()
	with pymysql.connect(**runtime.db_config()) as other, other.cursor() as cursor:
		cursor.execute("select get_lock(%s, 0)", (archive.lock_name("Spring 2025"),))
		result = archive.archive_season("Spring 2025")
		# Released explicitly: the server frees a closed session's locks asynchronously.
		cursor.execute("select release_lock(%s)", (archive.lock_name("Spring 2025"),))
	assert result["success"] is False and "already being archived" in result["error"]
	assert live_count(db, "Spring 2025") == 10
	assert archive.archive_season("Spring 2025")["archived_count"] == 10


def test_auto_archive_eligibility(db):
	today = runtime.now().date()
	yesterday = today - timedelta(days=1)
	add_season(db, "Ended Yesterday", auto=1, end=yesterday)
	add_season(db, "Ends Today", auto=1, end=today)
	add_season(db, "Still Active", active=1, auto=1, end=yesterday)
	add_season(db, "Manual Only", auto=0, end=yesterday)
	add_season(db, "Failed Before", auto=1, end=yesterday, status="Failed")
	add_season(db, "Done Already", auto=1, end=yesterday, status="Archived")
	for season in (
		"Ended Yesterday",
		"Ends Today",
		"Still Active",
		"Manual Only",
		"Failed Before",
		"Done Already",
	):
		add_trackers(db, season, 20)

	result = archiver.process_auto_archive()

	assert result == {"success": True, "archived_seasons": 2, "failed_seasons": []}
	assert live_count(db, "Ended Yesterday") == live_count(db, "Failed Before") == 0
	for season in ("Ends Today", "Still Active", "Manual Only", "Done Already"):
		assert live_count(db, season) == 20
		assert archived_count(db, season) == 0


def test_auto_archive_reports_failed_seasons(db, redis_client):
	add_season(db, "Ended A", auto=1, end=date(2024, 1, 1))
	add_season(db, "Ended B", auto=1, end=date(2024, 2, 1))
	add_trackers(db, "Ended A", 5)
	redis_client.sadd(keys.season_player_set("Ended A", "p1@x.com"), "p1@x.com")
	redis_client.hset(keys.pending_key("p1@x.com", "Ended A"), "q1", "{}")
	assert archiver.process_auto_archive() == {
		"success": False,
		"archived_seasons": 1,
		"failed_seasons": ["Ended A"],
	}


def add_archived(
	db, season: str, count: int, archived_at: datetime, eligible: int = 0, first: int = 1
) -> None:
	db.sql(
		f"""insert into {ARCHIVE} (name, player, season, question_id, archived_at, eligible_for_deletion)
		select concat(%s, '-', seq), 'p@x.com', %s, concat('q', seq), %s, %s
		from seq_{int(first)}_to_{int(first + count - 1)}""",
		(season, season, archived_at, eligible),
	)
	db.commit()


def test_flag_uses_the_retention_cutoff(db):
	today = runtime.now().date()
	with runtime.override_settings(retention_years=3, delete_chunk_size=7):
		cutoff = retention.subtract_years(today, 3)
		midnight = datetime.combine(cutoff, datetime.min.time())
		add_archived(db, "Old", 23, midnight - timedelta(microseconds=1))
		add_archived(db, "Boundary", 11, midnight)
		add_archived(db, "Recent", 5, runtime.now())
		add_archived(db, "Old", 4, midnight - timedelta(days=400), eligible=1, first=100)

		result = retention.flag_eligible_for_deletion()

	assert result == {"success": True, "flagged_count": 23, "cutoff_date": cutoff.isoformat()}
	flagged = dict(db.sql(f"select season, sum(eligible_for_deletion) from {ARCHIVE} group by season"))
	assert {k: int(v) for k, v in flagged.items()} == {"Old": 27, "Boundary": 0, "Recent": 0}
	with runtime.override_settings(retention_years=1):
		assert (
			retention.flag_eligible_for_deletion()["cutoff_date"]
			== retention.subtract_years(today, 1).isoformat()
		)


def test_subtract_years_handles_leap_days():
	assert retention.subtract_years(date(2028, 2, 29), 3) == date(2025, 2, 28)
	assert retention.subtract_years(date(2028, 2, 29), 4) == date(2024, 2, 29)


def test_delete_does_nothing_without_confirm(db):
	add_archived(db, "Old", 10, datetime(2020, 1, 1), eligible=1)
	for confirm in (False, None, "yes", 1):
		result = retention.delete_eligible_records(confirm=confirm)
		assert result == {
			"success": False,
			"deleted_count": 0,
			"review_log_deleted": 0,
			"error": "Deleting archived records needs confirm=True",
		}
	assert archived_count(db, "Old") == 10
	with pytest.raises(ValidationError):
		retention.queue_delete_eligible(confirm=False)


def test_delete_removes_only_eligible_rows_in_chunks(db):
	add_archived(db, "Old", 30, datetime(2020, 1, 1), eligible=1)
	add_archived(db, "Old", 5, datetime(2020, 1, 1), eligible=0, first=100)
	add_archived(db, "Older", 12, datetime(2019, 1, 1), eligible=1)
	calls = []
	with runtime.override_settings(delete_chunk_size=4):
		one = retention.delete_eligible_records(
			"Older", confirm=True, progress=lambda d, t: calls.append((d, t))
		)
		assert one == {"success": True, "deleted_count": 12, "review_log_deleted": 0, "error": None}
		assert calls[-1] == (12, 12) and len(calls) == 4
		rest = retention.delete_eligible_records(confirm=True)
	assert rest["deleted_count"] == 30
	assert audit_rows(db, "delete_eligible_records") == [("Success", "Older", 12), ("Success", None, 30)]
	assert (archived_count(db, "Old"), archived_count(db, "Older")) == (5, 0)


def test_flag_and_delete_run_as_background_jobs(db, workers):
	add_archived(db, "Old", 9, datetime(2015, 1, 1))
	add_archived(db, "Recent", 4, runtime.now())
	workers("long")
	flag = retention.queue_flag_eligible()["job_id"]
	assert wait_until(lambda: runtime.fetch_job(flag).status == "finished", timeout=30)
	assert runtime.fetch_job(flag).result["flagged_count"] == 9
	delete = retention.queue_delete_eligible("Old", confirm=True)["job_id"]
	assert wait_until(lambda: runtime.fetch_job(delete).status == "finished", timeout=30)
	assert runtime.fetch_job(delete).result["deleted_count"] == 9
	assert (archived_count(db, "Old"), archived_count(db, "Recent")) == (0, 4)


def test_archive_status_has_every_field_of_the_service_docs(db):
	add_season(db, "Spring 2025", auto=1, end=date(2025, 6, 30))
	add_trackers(db, "Spring 2025", 8)
	add_archived(db, "Spring 2025", 6, datetime(2020, 1, 1), eligible=1, first=1000)
	add_archived(db, "Spring 2025", 4, datetime(2024, 1, 1), first=2000)
	status = archiver.get_archive_status("Spring 2025")
	assert {k: status[k] for k in status if k not in ("archived_on",)} == {
		"season": "Spring 2025",
		"is_active": False,
		"auto_archive": True,
		"end_date": date(2025, 6, 30),
		"active_records": 8,
		"archived_records": 10,
		"eligible_for_deletion": 6,
		"total_records": 18,
		"review_log_records": 0,
		"archive_status": "Not Archived",
		"archive_error": None,
		"has_partition": False,
	}
	with pytest.raises(ValidationError):
		archiver.get_archive_status("Nope 1999")


def test_queue_archive_checks_before_enqueueing(db):
	add_season(db, "Summer 2025", active=1)
	with pytest.raises(NotAllowed):
		archiver.queue_archive("Summer 2025")
	with pytest.raises(NotFound) as unknown:
		archiver.queue_archive("Nope 1999")
	assert unknown.value.field == "season_name"


def test_scheduled_jobs_resolve_and_need_no_arguments():
	for paths in hooks.scheduler_events.values():
		for path in paths:
			module, _, attr = path.rpartition(".")
			func = getattr(importlib.import_module(module), attr)
			assert all(p.default is not p.empty for p in inspect.signature(func).parameters.values())
	assert hooks.scheduler_events["daily_long"][0] == "memora.services.srs.archiver.process_auto_archive"
	assert (
		hooks.scheduler_events["weekly_long"][0] == "memora.services.srs.retention.flag_eligible_for_deletion"
	)


# --- the review log ------------------------------------------------------------------------------

LOG = "`tabMemora Review Log`"


def add_log_rows(db, season: str, count: int) -> None:
	db.sql(
		f"""insert into {LOG} (name, player, season, question_id, rating, reviewed_at, creation, modified)
		select concat('r-', %s, '-', seq), concat('p', seq mod 10, '@x.com'), %s, concat('q', seq), 3,
			now() - interval seq minute, now(), now()
		from seq_1_to_{int(count)}""",
		(season, season),
	)
	db.commit()


def log_count(db, season: str) -> int:
	db.rollback()
	return db.sql(f"select count(*) from {LOG} where season = %s", (season,))[0][0]


def test_an_archived_seasons_review_log_stays_in_its_partition(db):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 50)
	add_log_rows(db, "Spring 2025", 80)
	assert archiver.archive_season("Spring 2025")["success"]
	assert (live_count(db, "Spring 2025"), log_count(db, "Spring 2025")) == (0, 80)
	assert pm.partition_rows(pm.partition_id("Spring 2025"), "Memora Review Log") == 80
	assert archiver.get_archive_status("Spring 2025")["review_log_records"] == 80
	with pytest.raises(NotAllowed, match="Memora Review Log: 80"):
		pm.drop_partition("Spring 2025")


def test_retention_deletes_the_review_log_of_seasons_archived_before_the_cutoff(db):
	"""A whole partition in one TRUNCATE PARTITION; a season without a partition (its rows in DEFAULT) in
	chunks; a season archived after the cutoff, or not archived, keeps its log."""
	old = datetime(2015, 1, 1)
	for name, status in (("Old", "Archived"), ("Old Default", "Archived"), ("Recent", "Archived")):
		add_season(db, name, status=status)
	add_season(db, "Running")
	db.sql("update `tabMemora Season` set archived_on = %s where name like 'Old%%'", (old,))
	db.sql("update `tabMemora Season` set archived_on = now() where name = 'Recent'")
	db.commit()
	for name in ("Old", "Old Default", "Recent", "Running"):
		add_log_rows(db, name, 30)
	pm.create_partition("Old")
	deletes = handler_deletes(db)

	with runtime.override_settings(delete_chunk_size=7):
		one = retention.delete_eligible_records("Old", confirm=True)
		assert handler_deletes(db) == deletes  # the partition went whole, not row by row
		rest = retention.delete_eligible_records(confirm=True)

	assert (one["review_log_deleted"], rest["review_log_deleted"]) == (30, 30)
	assert {name: log_count(db, name) for name in ("Old", "Old Default", "Recent", "Running")} == {
		"Old": 0,
		"Old Default": 0,
		"Recent": 30,
		"Running": 30,
	}
	assert retention.delete_eligible_records(confirm=True)["review_log_deleted"] == 0


# --- each outcome, word for word: what admins read on the season, in the audit log and in Error Log ----


def test_archive_reports_progress_and_is_in_progress_meanwhile(db, caplog):
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 250)
	seen = []

	def progress(done: int, total: int) -> None:
		seen.append((done, total, season_row(db, "Spring 2025")["archive_status"]))

	before = runtime.now().replace(microsecond=0)
	caplog.set_level(logging.DEBUG, logger="memora")
	with runtime.override_settings(archive_chunk_size=100):
		archiver.archive_season("Spring 2025", progress=progress)
	assert seen == [(100, 250, "In Progress"), (200, 250, "In Progress"), (250, 250, "In Progress")]
	assert {line["title"] for line in logged(caplog, "progress")} == {"Archiving Spring 2025"}
	(archived_at,) = {row[0] for row in db.sql(f"select archived_at from {ARCHIVE}")}
	assert before <= archived_at <= runtime.now()


def test_a_successful_archive_is_audited_and_logged_with_its_counts(db, redis_client, caplog, monkeypatch):
	caplog.set_level(logging.INFO, logger="memora")
	monkeypatch.setattr(archiver, "REDIS_BATCH", 2)  # the player sets are read in several batches
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 40)
	players = [f"p{i}@x.com" for i in range(5)]
	seed_redis(redis_client, "Spring 2025", players)
	assert archiver.archive_season("Spring 2025")["archived_count"] == 40
	sets = len({keys.season_player_set("Spring 2025", player) for player in players})  # shards in use
	(details,) = db.sql(
		"select details from `tabSRS Audit Log` where operation = 'archive_season' and status = 'Success'"
	)[0]
	assert json.loads(details) == {"archived_records": 40, "redis_keys_deleted": 10 + sets}
	assert logged(caplog, "season_archived") == [
		{"season": "Spring 2025", "archived_count": 40, "archived_records": 40, "level": "INFO"}
	]
	assert redis_keys(redis_client, "Spring 2025", players) == []


def test_pending_reviews_are_counted_over_every_batch_of_players(db, redis_client, monkeypatch, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	monkeypatch.setattr(archiver, "REDIS_BATCH", 2)
	add_season(db, "Spring 2025")
	add_trackers(db, "Spring 2025", 10)
	for player in ("p1@x.com", "p2@x.com", "p3@x.com"):
		redis_client.sadd(keys.season_player_set("Spring 2025", player), player)
		redis_client.hset(keys.pending_key(player, "Spring 2025"), "q1", "{}")
	error = (
		"3 players of season 'Spring 2025' have accepted reviews not yet written to the database; "
		"archive again once persistence has caught up"
	)
	result = archiver.archive_season("Spring 2025")
	assert result == {"success": False, "archived_count": 0, "season": "Spring 2025", "error": error}
	assert season_row(db, "Spring 2025")["archive_error"] == error
	(failed,) = db.sql("select error from `tabSRS Audit Log` where status = 'Failed'")
	assert error in failed[0]
	assert logged(caplog, "error") == [
		{"title": "Memora: archive failed", "message": f"season Spring 2025: {error}", "level": "ERROR"}
	]


def test_refusals_name_the_season(db):
	add_season(db, "Summer 2025", active=1)
	assert archiver.archive_season("Nope 1999") == {
		"success": False,
		"archived_count": 0,
		"season": "Nope 1999",
		"error": "Season 'Nope 1999' does not exist",
	}
	assert archiver.archive_season("Summer 2025")["error"] == (
		"Season 'Summer 2025' is active; deactivate it before archiving"
	)
	with pytest.raises(NotAllowed) as active:
		archiver.queue_archive("Summer 2025")
	assert str(active.value) == "Season 'Summer 2025' is active; deactivate it before archiving"
	with pytest.raises(NotFound) as unknown:
		archiver.get_archive_status("Nope 1999")
	assert (unknown.value.field, unknown.value.message) == (
		"season_name",
		"season 'Nope 1999' does not exist",
	)
	with pytest.raises(NotFound) as unknown:
		archiver.queue_archive("Nope 1999")
	assert unknown.value.message == "season 'Nope 1999' does not exist"
	for call in (archiver.get_archive_status, archiver.archive_season, archiver.queue_archive):
		with pytest.raises(ValidationError) as refused:
			call("x'; drop table t; --")
		assert refused.value.field == "season_name"


def test_a_second_archive_of_an_archiving_season_names_it(db):
	add_season(db, "Spring 2025")
	archive = archiver.SRSArchiver()
	with pymysql.connect(**runtime.db_config()) as other, other.cursor() as cursor:
		cursor.execute("select get_lock(%s, 0)", (archive.lock_name("Spring 2025"),))
		result = archive.archive_season("spring 2025")
		cursor.execute("select release_lock(%s)", (archive.lock_name("Spring 2025"),))
	assert result == {
		"success": False,
		"archived_count": 0,
		"season": "Spring 2025",
		"error": "Season 'Spring 2025' is already being archived",
	}


def test_the_archive_lock_is_per_database_and_season(db):
	archive = archiver.SRSArchiver()
	name = archive.lock_name("Spring 2025")
	assert name.startswith("memora-archive-") and len(name) == len("memora-archive-") + 40
	assert archive.lock_name("SPRING 2025") == name != archive.lock_name("Summer 2025")
	own = db.sql("select database()")[0][0]
	db.sql("use information_schema")
	try:
		assert archive.lock_name("Spring 2025") != name
	finally:
		db.sql(f"use `{own}`")


def test_archive_is_queued_as_a_long_job_for_the_canonical_season(db):
	add_season(db, "Spring 2025")
	queued = archiver.queue_archive("spring 2025")
	job = runtime.fetch_job(queued["job_id"])
	assert queued["season"] == "Spring 2025"
	assert (job.target, job.kwargs, job.rq_job.origin.rsplit(":", 1)[-1]) == (
		"memora.services.srs.archiver.archive_season",
		{"season_name": "Spring 2025"},
		"long",
	)
	runtime.delete_job(queued["job_id"])


def test_auto_archive_logs_what_it_did(db, redis_client, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	add_season(db, "Ended A", auto=1, end=date(2024, 1, 1))
	add_season(db, "Ended B", auto=1, end=date(2024, 2, 1))
	redis_client.sadd(keys.season_player_set("Ended A", "p1@x.com"), "p1@x.com")
	redis_client.hset(keys.pending_key("p1@x.com", "Ended A"), "q1", "{}")
	archiver.process_auto_archive()
	assert logged(caplog, "auto_archive") == [
		{"archived_seasons": 1, "failed_seasons": ["Ended A"], "level": "INFO"}
	]


def test_the_archivers_retention_calls_are_the_retention_policys(db):
	add_archived(db, "Old", 3, datetime(2020, 1, 1), eligible=1)
	archive = archiver.SRSArchiver()
	assert archive.delete_eligible_records("Old")["success"] is False  # a dry run unless confirmed
	assert archive.delete_eligible_records("Older", True)["deleted_count"] == 0  # another season's
	calls = []
	deleted = archive.delete_eligible_records("Old", True, lambda done, total: calls.append((done, total)))
	assert (deleted["deleted_count"], calls[-1]) == (3, (3, 3))
	assert archived_count(db, "Old") == 0


def test_archive_status_of_an_active_season(db):
	add_season(db, "Summer 2025", active=1)
	assert archiver.get_archive_status("Summer 2025")["is_active"] is True
