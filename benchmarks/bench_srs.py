"""The SRS hot path against its MariaDB baselines, in one run.

At --scale 1: 1,000,000 trackers of 10,000 players (100 cards each, ~40 % due) in one season with a
partition of its own. Measured:
- `get_due_items` p50/p99 from Redis vs the safe-mode SQL for the same players, idle and while
  another process persists 5,000 rows/s through `srs_persistence`. The two sides alternate in
  chunks of calls, so both meet the same machine state, each in its steady state; beside them, the
  same two reads without Memora (redis-py ZRANGEBYSCORE, a bare PyMySQL cursor) and the bare round
  trips (PING, SELECT 1) show what the machine itself costs;
- `rebuild_season_cache` rows/s, and keyset pagination's last page vs first page beside OFFSET's;
- `submit_review_session` of 20 answers (durable write queued, not awaited) vs the same submission
  followed by the synchronous MariaDB write.
The Frappe HTTP figure (`get_review_session` over `/api/method/ping`) is in bench_site.py (needs a bench).
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import random
import time
from collections.abc import Callable

import pymysql

from benchmarks.harness import (
	Context,
	Result,
	p50,
	partitioned_season,
	percentile,
	sample,
	throwaway_database,
)
from memora import runtime
from memora.services.srs import keys, pending, persistence, reviews, trackers
from memora.services.srs.queue import SRSRedisManager
from memora.services.srs.rebuild import rebuild_season_cache

SEASON = "Bench 2025-2026"
CARDS_PER_PLAYER = 100
LOAD_CHUNK = 100_000
WRITE_RATE = 5000  # rows/s of background persistence
WRITE_BATCH = CARDS_PER_PLAYER
PAGE = 1000
CHUNK = 100  # calls of one reader before the next takes its turn
WARMUP = 20
RNG = random.Random(7)


def player(n: int) -> str:
	return f"player{n:06d}@bench.invalid"


def load(players: int) -> int:
	"""Trackers generated inside MariaDB (SEQUENCE engine): fast enough for a million rows."""
	db = runtime.db()
	partitioned_season(SEASON, "2025-09-01", "2026-08-31", active=True)
	total = players * CARDS_PER_PLAYER
	base = runtime.now()
	for start in range(0, total, LOAD_CHUNK):
		end = min(start + LOAD_CHUNK, total) - 1
		# Due times spread from 4 days ago to 6 days ahead: about 40 % of the cards are due.
		db.sql(
			f"""insert into `tabPlayer Memory Tracker` (name, player, season, question_id, subject,
				state, stability, difficulty, reps, last_review_date, next_review_date)
			select concat('bench-', seq),
				concat('player', lpad(seq div {CARDS_PER_PLAYER}, 6, '0'), '@bench.invalid'),
				%s, concat('q', lpad(seq mod {CARDS_PER_PLAYER}, 3, '0')), 'math', 'Review', 5, 5, 3,
				%s - interval 5 day, %s + interval (cast((seq * 7919) mod 14400 as signed) - 5760) minute
			from seq_{start}_to_{end}""",
			(SEASON, base, base),
		)
		db.commit()
	db.sql("analyze table `tabPlayer Memory Tracker`")
	return total


def write_load(database: str, players: int, stop, written) -> None:
	"""Another process persisting WRITE_RATE rows/s (batches of one player's cards)."""
	import os

	os.environ["MEMORA_DB_NAME"] = database
	rng = random.Random(11)
	interval = WRITE_BATCH / WRITE_RATE
	next_at = time.monotonic()
	while not stop.is_set():
		user = player(rng.randrange(players))
		now = time.time()
		states = [
			{
				"question_id": f"q{q:03d}",
				"review_id": f"load-{now}-{q}",
				"reviewed_at": now,
				"next_review_ts": now + 86400,
				"stability": 6.0,
				"difficulty": 5.0,
				"state": "Review",
				"reps": 4,
			}
			for q in range(WRITE_BATCH)
		]
		persistence.persist_review_batch(states, user, SEASON)
		with written.get_lock():
			written.value += WRITE_BATCH
		next_at += interval
		time.sleep(max(0.0, next_at - time.monotonic()))


def due_readers(connection: pymysql.connections.Connection) -> dict[str, Callable[[str], object]]:
	"""The reads compared, each given a player: Memora's two paths, then the same reads without
	Memora (`connection` is a bare PyMySQL one), then bare round trips to each server."""
	manager = SRSRedisManager()
	client = runtime.redis_client()
	due_sql = trackers.due_sql()

	def raw_sql(query: str, values: tuple = ()) -> list:
		with connection.cursor() as cursor:
			cursor.execute(query, values)
			return cursor.fetchall()

	return {
		"redis": lambda user: manager.get_due_items(user, SEASON, 20),
		"sql": lambda user: trackers.due_question_ids(user, SEASON, runtime.now_ts(), 20),
		"raw_zrangebyscore": lambda user: client.zrangebyscore(
			keys.queue_key(user, SEASON), "-inf", time.time(), start=0, num=20
		),
		"raw_pymysql": lambda user: raw_sql(due_sql, (user, SEASON, runtime.now(), 20)),
		"ping": lambda user: client.ping(),
		"select_1": lambda user: raw_sql("select 1"),
	}


def alternating(
	readers: dict[str, Callable[[str], object]],
	players: list[str],
	iterations: int,
	between: Callable[[], None],
) -> dict[str, list[float]]:
	"""Per-call times (ms) of every reader over the same players, in chunks of CHUNK calls taken in
	turn: each reader runs back to back within its chunk (its steady state) and all of them share
	the machine's state over the run. Calling them in turn call by call would not be fair: a round
	trip to a server that sat idle during another server's call pays for waking it up. `between`
	runs, untimed, before every chunk."""
	times = {name: [] for name in readers}
	cycle = itertools.cycle(players)
	for read in readers.values():
		for user in players[:WARMUP]:
			read(user)
	for _ in range(0, iterations, CHUNK):
		chunk = [next(cycle) for _ in range(CHUNK)]
		for name, read in readers.items():
			between()
			for user in chunk:
				start = time.perf_counter()
				read(user)
				times[name].append((time.perf_counter() - start) * 1000)
	return times


def due_figures(players: list[str], iterations: int, label: str) -> list[Result]:
	gc.collect()  # the rebuild leaves garbage; a collection mid-sample would land on one side only
	with pymysql.connect(**runtime.db_config()) as connection:

		def fresh_snapshots() -> None:
			"""A request reads in a new transaction: a snapshot kept open while the writer runs would
			make MariaDB rebuild old row versions, a cost only the benchmark would pay."""
			runtime.db().rollback()
			connection.rollback()

		times = alternating(due_readers(connection), players, iterations, fresh_snapshots)
	redis_times, sql_times = times["redis"], times["sql"]
	floors = {name: round(p50(values), 4) for name, values in times.items()}
	return [
		Result(
			"srs",
			f"get_due_items p50 ({label})",
			p50(redis_times),
			"ms",
			baseline=p50(sql_times),
			baseline_label="safe-mode SQL, same players",
			target="≤ 0.2 ms; ≥ 4x SQL idle",
			passed=p50(redis_times) <= 0.2 and (label != "idle" or p50(sql_times) >= 4 * p50(redis_times)),
			notes=(
				f"without Memora: ZRANGEBYSCORE {floors['raw_zrangebyscore']:.3f} ms, same SQL "
				f"{floors['raw_pymysql']:.3f} ms "
				f"({floors['raw_pymysql'] / floors['raw_zrangebyscore']:.1f}x); "
				f"bare round trip: PING {floors['ping']:.3f} ms, SELECT 1 {floors['select_1']:.3f} ms"
			),
			extra={"p50_ms": floors},
		),
		Result(
			"srs",
			f"get_due_items p99 ({label})",
			percentile(redis_times, 99),
			"ms",
			baseline=percentile(sql_times, 99),
			baseline_label="safe-mode SQL, same players",
			target="≤ 0.5 ms",
			passed=percentile(redis_times, 99) <= 0.5,
		),
	]


def under_write_load(database: str, players: int, chosen: list[str], iterations: int) -> list[Result]:
	context = multiprocessing.get_context("spawn")
	stop, written = context.Event(), context.Value("l", 0)
	writer = context.Process(target=write_load, args=(database, players, stop, written), daemon=True)
	writer.start()
	time.sleep(1.0)  # let the writer reach its pace
	started, before = time.monotonic(), written.value
	results = due_figures(chosen, iterations, "under write load")
	rate = (written.value - before) / (time.monotonic() - started)
	stop.set()
	writer.join(timeout=30)
	load = f"background persistence achieved {rate:,.0f} rows/s (asked {WRITE_RATE:,})"
	for result in results:
		result.notes = f"{load}; {result.notes}" if result.notes else load
	return results


def pagination_figures(total: int, reps: int) -> list[Result]:
	last_start = max(total - PAGE, 0)
	before_last = trackers.season_rows(
		runtime.db().sql(
			f"select {trackers.SEASON_COLUMNS} from `tabPlayer Memory Tracker` "
			"force index (player_season_due) where season = %s "
			"order by player, next_review_date, question_id limit 1 offset %s",
			(SEASON, max(last_start - 1, 0)),
		)
	)[0]
	keyset_first = sample(lambda: trackers.season_page(SEASON, None, PAGE), reps, warmup=1)
	keyset_last = sample(lambda: trackers.season_page(SEASON, before_last, PAGE), reps, warmup=1)
	offset_first = sample(lambda: offset_page(0), reps, warmup=1)
	offset_last = sample(lambda: offset_page(last_start), reps, warmup=1)
	keyset_ratio = p50(keyset_last) / p50(keyset_first)
	offset_ratio = p50(offset_last) / p50(offset_first)
	return [
		Result(
			"srs",
			f"rebuild page, last of {total:,} rows (keyset)",
			p50(keyset_last),
			"ms",
			baseline=p50(offset_last),
			baseline_label="OFFSET, same page",
			target="keyset last/first ≤ 1.5x",
			passed=keyset_ratio <= 1.5,
			notes=f"last/first page time: keyset {keyset_ratio:.2f}x, OFFSET {offset_ratio:.1f}x",
			extra={"keyset_first_ms": p50(keyset_first), "offset_first_ms": p50(offset_first)},
		)
	]


def offset_page(offset: int) -> list:
	"""The same page as `trackers.season_page`, found with OFFSET: the baseline."""
	return trackers.season_rows(
		runtime.db().sql(
			f"select {trackers.SEASON_COLUMNS} from `tabPlayer Memory Tracker` "
			"force index (player_season_due) where season = %s "
			"order by player, next_review_date, question_id limit %s offset %s",
			(SEASON, PAGE, offset),
		)
	)


def submit_figures(players: list[str], iterations: int) -> list[Result]:
	manager = SRSRedisManager()
	queued, synchronous = [], []
	# Players with due cards: the write load before this moved some players' cards ahead.
	players = [user for user in players if manager.get_due_items(user, SEASON, 20)]
	for i in range(iterations * 2):
		user = players[i % len(players)]
		due = manager.get_due_items(user, SEASON, 20)
		if not due:
			continue
		responses = [
			{"question_id": qid, "is_correct": RNG.random() < 0.8, "duration_ms": RNG.randrange(500, 9000)}
			for qid in due
		]
		start = time.perf_counter()
		result = reviews.submit_review_session(user, SEASON, responses)
		if i % 2:
			states = pending.get_many(user, SEASON, [r["question_id"] for r in result["results"]])
			persistence.persist_review_batch(list(states.values()), user, SEASON)
			synchronous.append((time.perf_counter() - start) * 1000)
		else:
			queued.append((time.perf_counter() - start) * 1000)
	empty_persistence_queue()
	return [
		Result(
			"srs",
			"submit_review_session, 20 answers p50",
			p50(queued),
			"ms",
			baseline=p50(synchronous),
			baseline_label="same submission + synchronous MariaDB write",
			target="≤ 5 ms",
			passed=p50(queued) <= 5,
		)
	]


def empty_persistence_queue() -> None:
	"""The benchmark runs no worker: drop the jobs it queued from the shared Redis."""
	from rq import Queue

	queue = runtime.queue_name(runtime.settings().persistence_queue)
	Queue(queue, connection=runtime.queue_connection()).empty()


def run(ctx: Context) -> list[Result]:
	players = max(20, int(10_000 * ctx.scale))
	iterations = 300 if ctx.quick else 3000
	with throwaway_database("srs") as database:
		total = load(players)
		started = time.perf_counter()
		rebuilt = rebuild_season_cache(SEASON, batch_size=PAGE)
		elapsed = time.perf_counter() - started
		results = [
			Result(
				"srs",
				f"rebuild_season_cache ({total:,} rows, {players:,} players)",
				rebuilt["total_records"] / elapsed,
				"rows/s",
				target="≥ 50,000 rows/s",
				passed=rebuilt["total_records"] / elapsed >= 50_000 and rebuilt["status"] == "completed",
				notes=f"{elapsed:.1f} s, pages of {PAGE:,}",
			)
		]
		results += pagination_figures(total, 3 if ctx.quick else 10)
		chosen = [player(n) for n in RNG.sample(range(players), min(players, 1000))]
		results += due_figures(chosen, iterations, "idle")
		results += under_write_load(database, players, chosen, iterations)
		results += submit_figures(chosen, 50 if ctx.quick else 300)
	return results
