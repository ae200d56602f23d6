"""Archiving a season, emptying its partition, and partition pruning of due-item queries.

At --scale 1: a season of 1,000,000 trackers (2,000 players, 500 cards each, with Redis queues), and
for pruning a table holding 5 seasons of 200,000 trackers. Measured in the same run:
- `archive_season` throughput (chunked copies, each verified, TRUNCATE PARTITION, Redis cleanup),
  against one unchunked, unverified `INSERT … SELECT` of the same rows (the floor of any copy);
- emptying the live partition with TRUNCATE PARTITION, against deleting the same rows with DELETE in
  committed chunks of `archive_chunk_size` (what an archiver without partitions must do);
- due-item queries of one season on the partitioned table, against the same rows in an unpartitioned
  copy of the table: a season-wide due count (pruning reads one season's index) and the per-player
  safe-mode due query (the composite index already narrows it; pruning adds little).
"""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from datetime import datetime

import pymysql

from benchmarks.harness import Context, Result, p50, partitioned_season, sample, throwaway_database
from memora import runtime
from memora.services.srs import archive_rows, archiver, keys, partitions, persistence, queue_sync
from memora.tests.cards import card

LIVE = "`tabPlayer Memory Tracker`"
FLAT = "`bench_flat_tracker`"
COPY = "`bench_archive_copy`"
CARDS = 500
INSERT_CHUNK = 100_000
SPREAD_MINUTES = 60 * 24 * 60
NOW = datetime(2026, 3, 1)
SEASON = "Bench Archive"
PRUNING_SEASONS = tuple(f"Bench Season {i}" for i in range(1, 6))
REPORT_SECONDS = 5.0


@contextmanager
def patched(module, **values):
	"""Module constants set for the block (the previous code's numbers, measured in the same run)."""
	saved = {name: getattr(module, name) for name in values}
	for name, value in values.items():
		setattr(module, name, value)
	try:
		yield
	finally:
		for name, value in saved.items():
			setattr(module, name, value)


def add_season(season: str) -> None:
	"""An ended season of 2025 with its own partition."""
	partitioned_season(season, "2025-01-01", "2025-12-31")


def load_trackers(season: str, count: int) -> None:
	"""`count` trackers of `season`, CARDS per player, due dates spread over 60 days around NOW, named
	as srs_persistence names them (so the archive, keyed the same way, is filled in key order)."""
	db = runtime.db()
	for start in range(1, count + 1, INSERT_CHUNK):
		end = min(count, start + INSERT_CHUNK - 1)
		db.sql(
			f"""insert into {LIVE} (player, season, question_id, name, stability, difficulty, state, reps,
				next_review_date, last_review_date, creation, modified)
			select player, season, question_id, {archive_rows.ARCHIVE_NAME_SQL}, 2.5, 5, 'Review', 3,
				%s - interval 30 day + interval (seq * 7919 mod {SPREAD_MINUTES}) minute, %s, %s, %s
			from (select seq, concat('player', seq div {CARDS}, '@bench.test') as player, %s as season,
				concat('q', seq mod {CARDS}) as question_id from seq_{start}_to_{end}) as cards""",
			(NOW, NOW, NOW, NOW, season),
		)
		db.commit()


def seed_redis(season: str, count: int) -> None:
	"""A one-card queue per player, registered in the season's player set, for the archive to clear."""
	client = runtime.redis_client()
	players = [f"player{p}@bench.test" for p in range(count // CARDS + 1)]
	pipe = client.pipeline(transaction=False)
	for name in players:
		pipe.zadd(keys.queue_key(name, season), {"q0": 0})
	pipe.execute()
	queue_sync.add_season_players(client, season, players)


def timed(func) -> float:
	start = time.perf_counter()
	func()
	return time.perf_counter() - start


def chunked_delete(season: str) -> None:
	db = runtime.db()
	chunk = runtime.settings().archive_chunk_size
	while True:
		db.sql(f"delete from {LIVE} where season = %s limit {chunk}", (season,))
		deleted = db.sql("select row_count()")[0][0]
		db.commit()
		if deleted < chunk:
			return


def unchunked_copy() -> None:
	db = runtime.db()
	columns = ", ".join(f"`{c}`" for c in archive_rows.copied_columns())
	db.sql_ddl(f"create table {COPY} like `tabArchived Memory Tracker`")
	db.sql(
		f"insert ignore into {COPY} (name, {columns}, archived_at) "
		f"select {archive_rows.ARCHIVE_NAME_SQL}, {columns}, now() from {LIVE} where season = %s",
		(SEASON,),
	)
	db.commit()


def archive_results(ctx: Context, count: int) -> list[Result]:
	add_season(SEASON)
	load_trackers(SEASON, count)
	seed_redis(SEASON, count)
	archive_s = timed(lambda: archiver.archive_season(SEASON))
	assert runtime.db().sql(f"select count(*) from {LIVE} where season = %s", (SEASON,))[0][0] == 0

	load_trackers(SEASON, count)
	copy_s = timed(unchunked_copy)
	fingerprint = partitions.partition_fingerprint(SEASON)
	truncate_s = timed(lambda: partitions.truncate_partition(SEASON, fingerprint))
	load_trackers(SEASON, count)
	delete_s = timed(lambda: chunked_delete(SEASON))
	rate = count / archive_s
	return [
		Result(
			"archive",
			f"archive_season of {count:,} trackers",
			rate,
			"rows/s",
			baseline=count / copy_s,
			baseline_label="one unchunked, unverified INSERT … SELECT (copy floor)",
			target="≥ 20,000 rows/s",
			passed=rate >= 20_000,
			notes="chunked INSERT IGNORE, each chunk verified; TRUNCATE PARTITION; Redis cleanup",
			extra={"archive_s": round(archive_s, 2), "copy_s": round(copy_s, 2)},
		),
		Result(
			"archive",
			f"empty the live partition ({count:,} rows)",
			truncate_s * 1000,
			"ms",
			baseline=delete_s * 1000,
			baseline_label=f"DELETE in committed chunks of {runtime.settings().archive_chunk_size:,}",
		),
	]


def due_count(table: str, season: str) -> None:
	runtime.db().sql(
		f"select count(*) from {table} where season = %s and next_review_date <= %s", (season, NOW)
	)


def due_items(table: str, season: str) -> None:
	runtime.db().sql(
		f"""select question_id from {table} where player = %s and season = %s and next_review_date <= %s
		order by next_review_date limit 20""",
		("player7@bench.test", season, NOW),
	)


def pruning_results(ctx: Context, per_season: int) -> list[Result]:
	for season in PRUNING_SEASONS:
		add_season(season)
		load_trackers(season, per_season)
	db = runtime.db()
	db.sql_ddl(f"create table {FLAT} like {LIVE}")
	db.sql_ddl(f"alter table {FLAT} remove partitioning")
	db.sql(f"insert into {FLAT} select * from {LIVE}")
	db.commit()
	db.sql(f"analyze table {LIVE}, {FLAT}")
	season = PRUNING_SEASONS[2]
	explained = db.sql(
		f"explain partitions select count(*) from {LIVE} where season = %s and next_review_date <= %s",
		(season, NOW),
		as_dict=True,
	)[0]["partitions"]
	iterations, warmup = (5, 1) if ctx.quick else (30, 3)
	pruned = sample(lambda: due_count(LIVE, season), iterations, warmup)
	flat = sample(lambda: due_count(FLAT, season), iterations, warmup)
	player_iterations = 50 if ctx.quick else 500
	pruned_player = sample(lambda: due_items(LIVE, season), player_iterations)
	flat_player = sample(lambda: due_items(FLAT, season), player_iterations)
	total = per_season * len(PRUNING_SEASONS)
	return [
		Result(
			"archive",
			f"season-wide due count, 5 seasons ({total:,} rows) p50",
			p50(pruned),
			"ms",
			baseline=p50(flat),
			baseline_label="same rows, unpartitioned table",
			notes=f"EXPLAIN PARTITIONS reads {explained} only",
		),
		Result(
			"archive",
			f"per-player due query, 5 seasons ({total:,} rows) p50",
			p50(pruned_player),
			"ms",
			baseline=p50(flat_player),
			baseline_label="same rows, unpartitioned table",
			notes="the composite (player, season, next_review_date) index already narrows it",
		),
	]


class Writer(threading.Thread):
	"""Review batches of 20 new cards written back to back into a live season, each call's start and
	duration kept: the write path whose stalls a season's creation causes."""

	def __init__(self, season: str) -> None:
		super().__init__(daemon=True)
		self.season, self.stop, self.calls = season, threading.Event(), []

	def run(self) -> None:
		batches = itertools.count()
		while not self.stop.is_set():
			number, now = next(batches), time.time()
			states = [card(f"q{number}-{i}", f"r{number}-{i}", now) for i in range(20)]
			started = time.perf_counter()
			persistence.persist_review_batch(states, "writer@bench.test", self.season)
			self.calls.append((started, time.perf_counter() - started))
		runtime.db().close()


def slow_report(seconds: float) -> None:
	"""A report reading the tracker table for `seconds` in one transaction (it holds the table's
	metadata lock until it commits)."""
	conn = pymysql.connect(**runtime.db_config())
	try:
		with conn.cursor() as cursor:
			cursor.execute(f"select count(*), sleep(%s) from {LIVE} where season = %s", (seconds, SEASON))
		conn.commit()
	finally:
		conn.close()


def longest_stall(season: str, report_seconds: float) -> tuple[float, float, float]:
	"""(the longest write while `season` is created behind a slow report, the writes' p50 before it,
	how long the creation took), all in ms."""
	writer = Writer(SEASON)
	writer.start()
	time.sleep(1.0)
	report = threading.Thread(target=slow_report, args=(report_seconds,))
	report.start()
	time.sleep(0.2)
	started = time.perf_counter()
	runtime.db().sql(
		"insert into `tabMemora Season` (name, season_name, is_active, start_date, end_date) "
		"values (%s, %s, 0, '2027-01-01', '2027-12-31')",
		(season, season),
	)
	runtime.db().commit()
	partitions.create_partition(season)
	created_s = time.perf_counter() - started
	report.join()
	time.sleep(1.0)
	writer.stop.set()
	writer.join()
	before = [duration for at, duration in writer.calls if at < started]
	during = [duration for at, duration in writer.calls if at >= started - 1.0]
	return max(during) * 1000, p50(before) * 1000, created_s * 1000


def creation_stall_results(count: int) -> list[Result]:
	"""A season created while reviews are written and a 5 s report holds the table: with short,
	retried lock waits against one long wait (the same run, the previous code's 30 s)."""
	add_season(SEASON)
	load_trackers(SEASON, count)
	stall, write_p50, created = longest_stall("Bench New Short", REPORT_SECONDS)
	with patched(partitions, DDL_LOCK_WAIT_SECONDS=30, DDL_ATTEMPTS=1):
		old_stall, _, old_created = longest_stall("Bench New Long", REPORT_SECONDS)
	return [
		Result(
			"archive",
			f"longest review write while a season is created behind a {REPORT_SECONDS:g} s report",
			stall,
			"ms",
			baseline=old_stall,
			baseline_label="one 30 s lock wait (before)",
			notes=f"writes of 20 p50 {write_p50:.1f} ms; creation took {created / 1000:.1f} s "
			f"(before: {old_created / 1000:.1f} s); {count:,} trackers in the season",
		)
	]


def run(ctx: Context) -> list[Result]:
	count = max(2_000, int(1_000_000 * ctx.scale))
	with throwaway_database("archive"):
		results = archive_results(ctx, count)
	with throwaway_database("pruning"):
		results += pruning_results(ctx, max(1_000, int(200_000 * ctx.scale)))
	with throwaway_database("stall"):
		results += creation_stall_results(max(2_000, int(200_000 * ctx.scale)))
	return results
