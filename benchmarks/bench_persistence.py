"""Review persistence: write throughput and submit-to-durable lag, each beside a baseline of the same run.

At --scale 1:
- rows/s of the persistence queue for 100,000 new cards in batches of 20 and of 500 (each review also
  writes its review log row in the same transaction: tracker rows/s and log rows/s are reported, the
  log rows counted, not assumed): the batches are
  queued (`queue_review_batch`) while one `memora worker` is stopped (SIGSTOP), then timed from its
  SIGCONT until RQ records the last job finished, so the figure includes RQ's own bookkeeping and the
  take-over of queued batches; vs one plain single-row INSERT per row (as many rows of the same shape
  into the same table, one commit per batch), the two taking turns in blocks of 10,000 rows;
- the same for direct `persist_review_batch` calls (validation, one multi-row upsert, commit,
  pending-state clean-up), one per batch: what a batch costs written synchronously;
- end-to-end lag from `queue_review_batch` to the row's write, at 1,000 reviews/s (sessions of 20)
  for 30 s with one `memora worker` process; p50 and p99, beside the p99 of writing the same batches
  synchronously (what a player would wait for without the queue). The write time is the row's
  `modified`, taken just before the statement: the statement and its commit (about 2 ms for a
  session, see the synchronous figure) are not in the lag.
The third baseline of the issue, Frappe's document path (`get_doc(...).insert()` per row), needs a
bench and is not measured here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rq import Worker

from benchmarks.harness import Context, Result, p50, percentile, throwaway_database
from memora import runtime
from memora.services.srs import persistence

SEASON = "Bench Persistence"
THROUGHPUT_ROWS = 100_000
LAG_RATE = 1000  # reviews/s
LAG_SESSION = 20  # reviews per submission
LAG_SECONDS = 30
BLOCK_ROWS = 10_000  # the throughput sides take turns in blocks of this many rows


def states(prefix: str, count: int, reviewed_at: float) -> list[dict]:
	return [
		{
			"question_id": f"{prefix}-q{i:04d}",
			"review_id": f"{prefix}-r{i:04d}",
			"reviewed_at": reviewed_at,
			"next_review_ts": reviewed_at + 86400,
			"stability": 3.2,
			"difficulty": 5.1,
			"state": "Review",
			"step": 0,
			"reps": 2,
			"lapses": 0,
			"last_rating": 3,
			"subject": "math",
			"topic": "algebra",
			# What the review log keeps, as `scheduler.next_state` adds it to every answer's state.
			"duration_ms": 2400 + i,
			"elapsed_days": 2.5,
			"state_before": "Review",
			"stability_before": 2.1,
			"difficulty_before": 5.0,
			"scheduler": "FSRS",
			"parameters_version": "default",
		}
		for i in range(count)
	]


def rows_per_s(rows: int, batch: int, worker: subprocess.Popen | None = None) -> tuple[float, float, float]:
	"""Tracker rows/s and review log rows/s of Memora (through `worker`'s queue, else direct calls), and
	rows/s of one plain INSERT per row.
	The two take turns in blocks of BLOCK_ROWS (who goes first swapping each time), so load from a
	neighbour lands on both rather than on whichever ran at that moment; each block starts with one
	untimed batch, so each side is measured warm as in steady operation (a batch right after a pause ran
	half again as slow or more)."""
	count = rows // batch
	per_block = max(1, BLOCK_ROWS // batch)
	spent = {"memora": 0.0, "plain": 0.0}
	run = "queue" if worker else "call"  # labels differ between the runs: rows are new cards
	for block, first in enumerate(range(0, count, per_block)):
		for side in ("memora", "plain") if block % 2 == 0 else ("plain", "memora"):
			write_batch(side, batch, f"{run}-warm{block}")
			labels = [f"{run}-{n}" for n in range(first, min(first + per_block, count))]
			if side == "memora" and worker is not None:
				spent[side] += drain(worker, batch, labels)
			else:
				spent[side] += sum(write_batch(side, batch, label) for label in labels)
	logged = timed_log_rows(run)
	return count * batch / spent["memora"], logged / spent["memora"], count * batch / spent["plain"]


def timed_log_rows(run: str) -> int:
	"""Review log rows of the timed batches of `run` (the warm-up batches are left out)."""
	db = runtime.db()
	db.rollback()
	return db.sql(
		"select count(*) from `tabMemora Review Log` where player like %s and player not like %s",
		(f"%-{run}-%", "%-warm%"),
	)[0][0]


def drain(worker: subprocess.Popen, batch: int, labels: list[str]) -> float:
	"""Queue one batch per label while the worker is stopped, then the seconds from letting it go until
	RQ has recorded every one of them finished."""
	finished = runtime.rq_queue(runtime.settings().persistence_queue).finished_job_registry
	os.kill(worker.pid, signal.SIGSTOP)
	try:
		done = finished.count + len(labels)
		for label in labels:
			persistence.queue_review_batch(
				states(f"q{batch}-{label}", batch, time.time()), f"q{batch}-{label}@bench.invalid", SEASON
			)
	finally:
		os.kill(worker.pid, signal.SIGCONT)
	start = time.perf_counter()
	while finished.count < done:
		time.sleep(0.005)
	return time.perf_counter() - start


def write_batch(side: str, batch: int, label: str) -> float:
	"""One batch of new cards written the `side` way; the seconds it took (input built before the clock)."""
	if side == "memora":
		cards = states(f"m{batch}-{label}", batch, time.time())
		start = time.perf_counter()
		persistence.persist_review_batch(cards, f"m{batch}-{label}@bench.invalid", SEASON)
	else:
		start = time.perf_counter()
		plain_insert_batch(f"p{batch}-{label}", batch)
	return time.perf_counter() - start


PLAIN_INSERT = (
	"insert into `tabPlayer Memory Tracker` (name, creation, modified, owner, modified_by, player, "
	"season, question_id, subject, topic, stability, difficulty, state, step, reps, lapses, "
	"last_rating, next_review_date, last_review_id, last_review_date) "
	"values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def plain_insert_batch(player: str, batch: int) -> None:
	"""One single-row INSERT per card, then one commit: the write without batching or upsert."""
	db = runtime.db()
	now = runtime.now()
	player = f"{player}@bench.invalid"
	for i in range(batch):
		db.sql(
			PLAIN_INSERT,
			(
				f"{player}-{i}",
				now,
				now,
				player,
				player,
				player,
				SEASON,
				f"q{i:04d}",
				"math",
				"algebra",
				3.2,
				5.1,
				"Review",
				0,
				2,
				0,
				3,
				now,
				f"r{i}",
				now,
			),
		)
	db.commit()


def start_worker() -> subprocess.Popen:
	worker = subprocess.Popen(
		[sys.executable, "-m", "memora", "worker", "--queue", runtime.settings().persistence_queue],
		env=dict(os.environ),
	)
	queue = runtime.rq_queue(runtime.settings().persistence_queue)
	deadline = time.monotonic() + 30
	while worker.pid not in {w.pid for w in Worker.all(queue=queue)}:
		if time.monotonic() > deadline:
			raise RuntimeError("the benchmark's worker did not start")
		time.sleep(0.1)
	return worker


def lags_ms(seconds: float) -> tuple[list[float], int, float]:
	"""Submit LAG_RATE reviews/s for `seconds` through the queue; each row's write time minus its
	submission time. Returns the lags, how many reviews were submitted and at what rate (so a generator
	that cannot keep up shows)."""
	sessions = int(seconds * LAG_RATE / LAG_SESSION)
	interval = LAG_SESSION / LAG_RATE
	first = time.monotonic()
	for n in range(sessions):
		time.sleep(max(0.0, first + n * interval - time.monotonic()))
		persistence.queue_review_batch(
			states(f"lag{n}", LAG_SESSION, time.time()), f"lag{n}@bench.invalid", SEASON
		)
	total = sessions * LAG_SESSION
	rate = total / (time.monotonic() - first + interval)  # the last session's interval included
	db = runtime.db()
	deadline = time.monotonic() + 120
	while time.monotonic() < deadline:
		db.rollback()
		if db.sql("select count(*) from `tabPlayer Memory Tracker` where player like 'lag%%'")[0][0] >= total:
			break
		time.sleep(0.2)
	db.rollback()
	written = db.sql(
		"select timestampdiff(microsecond, last_review_date, modified) from `tabPlayer Memory Tracker` "
		"where player like 'lag%%'"
	)
	return [us / 1000 for (us,) in written], total, rate


def synchronous_ms(count: int) -> list[float]:
	"""The same sessions written inline: the wait a player would have without the queue."""
	times = []
	for n in range(count):
		cards = states(f"sync{n}", LAG_SESSION, time.time())
		start = time.perf_counter()
		persistence.persist_review_batch(cards, f"sync{n}@bench.invalid", SEASON)
		times.append((time.perf_counter() - start) * 1000)
	return times


def throughput(rows: int, batch: int, worker: subprocess.Popen | None = None) -> Result:
	"""The queue's throughput (with `worker`) carries the issue's targets; direct calls are for reference.
	Each starts from an empty table: the row names are hashes, so inserts land all over the primary key,
	and a table grown by earlier measurements no longer fits the buffer pool (128 MB by default)."""
	runtime.db().sql_ddl("truncate table `tabPlayer Memory Tracker`")
	runtime.db().sql_ddl("truncate table `tabMemora Review Log`")
	memora, logged, plain = rows_per_s(rows, batch, worker)
	how = "through one worker" if worker else "one direct call per batch"
	target = "≥ 20,000 rows/s and ≥ 2x plain INSERT" if batch == 500 else "≥ 2x plain INSERT"
	return Result(
		"persistence",
		f"tracker rows/s {how}, batches of {batch} ({rows:,} new cards, each also logged)",
		memora,
		"rows/s",
		baseline=plain,
		baseline_label="one plain INSERT per row",
		target=target if worker else "",
		passed=memora >= 2 * plain and (batch != 500 or memora >= 20_000) if worker else None,
		notes=(
			f"review log rows/s in the same time: {logged:,.0f} (tracker + log {memora + logged:,.0f}); "
			"Frappe's document path is measured in the site: benchmarks/bench_site.py"
		),
		extra={"log_rows_per_s": logged, "tracker_and_log_rows_per_s": memora + logged},
	)


def run(ctx: Context) -> list[Result]:
	rows = max(1000, int(THROUGHPUT_ROWS * ctx.scale))
	seconds = max(2.0, LAG_SECONDS * ctx.scale)
	results = []
	with throwaway_database("persistence"):
		worker = start_worker()
		try:
			for batch in (20, 500):
				results.append(throughput(rows, batch, worker))
			for batch in (20, 500):
				results.append(throughput(rows, batch))
			lags, submitted, rate = lags_ms(seconds)
		finally:
			worker.terminate()
			worker.wait(timeout=30)
		inline = synchronous_ms(min(200, len(lags) // LAG_SESSION or 1))
		results.append(
			Result(
				"persistence",
				f"submit → durable row p99 at {LAG_RATE:,} reviews/s, one worker",
				percentile(lags, 99),
				"ms",
				baseline=percentile(inline, 99),
				baseline_label="the same session written synchronously (p99)",
				target="p99 ≤ 2,000 ms",
				passed=len(lags) == submitted and percentile(lags, 99) <= 2000,
				notes=(
					f"{len(lags):,} of {submitted:,} reviews written, submitted at {rate:,.0f}/s for "
					f"{seconds:.0f} s; p50 {p50(lags):.0f} ms"
				),
				extra={"p50_ms": p50(lags), "written": len(lags), "submitted": submitted, "rate": rate},
			)
		)
	return results
