"""The review log on real MariaDB, Redis and RQ workers: one row per accepted answer, written by the
persistence transaction that upserts the tracker, whatever happens to the batch on its way (client
retries, two answers to one card before they are written, take-overs, failed batches replayed, a worker
killed mid-batch).

The random programs at the end (answers, client retries, and a worker paused so that batches queue up
and are taken over, cut from MariaDB so that they fail and are replayed, or killed) run PROGRAMS
examples (15) with a fixed seed; MEMORA_REVIEW_LOG_EXAMPLES sets another count and a new seed on every
run.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Worker

from memora import runtime, srs, standalone
from memora.services.srs import in_flight, partitions, persistence, review_log, reviews
from memora.services.srs.persistence import jobs as persistence_jobs
from memora.services.srs.scheduler import DAY, DEFAULT_PARAMETERS
from memora.tests.cards import card
from tests.conftest import clear_keys, clear_tables
from tests.harness.proxy import CuttableProxy
from tests.harness.workers import WorkerProcess, wait_until
from tests.persistence_data import forget_jobs, job_status, kill_worker_mid_batch
from tests.srs_data import insert_trackers, make_season

SEASON = "Log 2026"
PLAYER = "lena@example.com"
LONG_RUN = "MEMORA_REVIEW_LOG_EXAMPLES" in os.environ
PROGRAMS = int(os.environ.get("MEMORA_REVIEW_LOG_EXAMPLES", "15"))
LOG = "`tabMemora Review Log`"


@pytest.fixture(autouse=True)
def fresh_queue():
	yield
	forget_jobs()


def logged(player: str | None = None) -> dict[str, dict]:
	"""Every review log row (of one player), by name."""
	database = runtime.db()
	database.rollback()
	where, values = ("where player = %s", (player,)) if player else ("", ())
	return {row["name"]: row for row in database.sql(f"select * from {LOG} {where}", values, as_dict=True)}


def seed(players: tuple[str, ...], cards: tuple[str, ...]) -> None:
	"""A season whose players have the cards in their queues, never reviewed."""
	make_season(SEASON)
	for player in players:
		insert_trackers(player, SEASON, dict.fromkeys(cards, time.time() - 60))
		reviews.get_review_session(player, SEASON)


def answer(player: str, qid: str, correct: bool = True, duration_ms: int = 3000, **extra) -> dict:
	result = reviews.submit_review_session(
		player, SEASON, [{"question_id": qid, "is_correct": correct, "duration_ms": duration_ms, **extra}]
	)
	return {**result["results"][0], "job_id": result["persistence_job_id"]}


def assert_chained(rows: list[dict]) -> None:
	"""A card's log rows, oldest first, each starting where the one before ended."""
	assert (rows[0]["state_before"], float(rows[0]["stability_before"]), float(rows[0]["elapsed_days"])) == (
		"New",
		0.0,
		0.0,
	)
	for before, after in itertools.pairwise(rows):
		assert after["state_before"] == before["state_after"]
		assert float(after["stability_before"]) == pytest.approx(float(before["stability_after"]), abs=1e-8)
		assert float(after["difficulty_before"]) == pytest.approx(float(before["difficulty_after"]), abs=1e-8)
		elapsed = (runtime.to_ts(after["reviewed_at"]) - runtime.to_ts(before["reviewed_at"])) / DAY
		assert float(after["elapsed_days"]) == pytest.approx(elapsed, abs=1e-8)


# --- what a row holds ----------------------------------------------------------------------------


def test_an_answer_is_logged_with_the_card_before_and_after_and_its_scheduler(workers, monkeypatch):
	seed((PLAYER,), ("q1",))
	workers("short")
	first = answer(PLAYER, "q1", duration_ms=4321)
	assert wait_until(lambda: job_status(first["job_id"]) == "finished", timeout=30)
	later = runtime.now_ts() + 3 * DAY + 0.123456
	monkeypatch.setattr(runtime, "now_ts", lambda: later)
	second = answer(PLAYER, "q1", correct=False, duration_ms=0)
	assert wait_until(lambda: job_status(second["job_id"]) == "finished", timeout=30)

	rows = logged()
	assert sorted(rows) == sorted([first["review_id"], second["review_id"]])
	row = rows[second["review_id"]]
	assert (row["player"], row["season"], row["question_id"], row["rating"], row["duration_ms"]) == (
		PLAYER,
		SEASON,
		"q1",
		1,
		0,
	)
	assert (row["state_after"], float(row["stability_after"]), row["next_review_date"]) == (
		second["state"],
		pytest.approx(second["stability"], abs=1e-8),
		runtime.from_ts(second["next_review_ts"]),
	)
	assert row["reviewed_at"] == runtime.from_ts(round(later, 6))  # to the microsecond
	assert (row["scheduler"], row["parameters_version"]) == ("FSRS", DEFAULT_PARAMETERS)
	assert (rows[first["review_id"]]["rating"], rows[first["review_id"]]["duration_ms"]) == (3, 4321)
	history = review_log.card_history(PLAYER, SEASON, "q1")
	assert [r["name"] for r in history] == [first["review_id"], second["review_id"]]
	assert_chained(history)
	assert float(history[1]["elapsed_days"]) == pytest.approx(3, abs=0.01)


def test_the_ladder_is_named_as_the_scheduler(workers):
	seed((PLAYER,), ("q1",))
	workers("short")
	with runtime.override_settings(scheduler_algorithm="Memora Ladder"):
		result = answer(PLAYER, "q1")
	assert wait_until(lambda: job_status(result["job_id"]) == "finished", timeout=30)
	assert logged()[result["review_id"]]["scheduler"] == "Memora Ladder"


def test_a_state_without_the_log_fields_is_logged_with_unknown_before_values(db):
	"""A batch queued by the release before the log (or a caller's bare card state): its row says it
	does not know what came before rather than claiming the card was new."""
	now = time.time()
	assert persistence.persist_review_batch([card("q1", "old-r1", now)], PLAYER, SEASON)["success"]
	row = logged()["old-r1"]
	assert (row["state_before"], row["scheduler"], row["parameters_version"]) == (None, None, None)
	assert (float(row["stability_before"]), float(row["elapsed_days"]), row["duration_ms"]) == (0, 0, 0)
	assert (row["rating"], row["state_after"], float(row["stability_after"])) == (3, "Review", 2.5)


def test_card_history_reads_one_partition_through_its_key(db):
	make_season(SEASON)
	partitions.create_partition(SEASON)
	now = time.time()
	for i in range(3):
		persistence.persist_review_batch([card("q1", f"r{i}", now + i)], PLAYER, SEASON)
	persistence.persist_review_batch([card("q2", "other", now)], PLAYER, SEASON)
	assert [row["name"] for row in review_log.card_history(PLAYER, SEASON, "q1")] == ["r0", "r1", "r2"]
	plan = db.sql(
		f"explain partitions select * from {LOG} where player = %s and season = %s and question_id = %s "
		"order by reviewed_at, name",
		(PLAYER, SEASON, "q1"),
		as_dict=True,
	)[0]
	assert plan["partitions"] == partitions.partition_id(SEASON)
	assert "player_season_question_reviewed" in plan["possible_keys"]  # a tiny table is scanned instead
	partitions.drop_partition(SEASON, force=True)


# --- exactly once --------------------------------------------------------------------------------


@pytest.mark.fault
def test_two_answers_to_one_card_before_persistence_are_two_rows_and_one_tracker(db, workers):
	seed((PLAYER,), ("q1", "q2"))
	worker = workers("short")
	queue = runtime.rq_queue("short")
	assert wait_until(lambda: worker.process.pid in {w.pid for w in Worker.all(queue=queue)}, timeout=30)
	os.kill(worker.process.pid, signal.SIGSTOP)  # both sessions queue up; the first job takes the second
	try:
		first, second = answer(PLAYER, "q1"), answer(PLAYER, "q1", correct=False)
	finally:
		os.kill(worker.process.pid, signal.SIGCONT)
	assert wait_until(lambda: {job_status(first["job_id"]), job_status(second["job_id"])} == {"finished"})

	history = review_log.card_history(PLAYER, SEASON, "q1")
	assert [row["name"] for row in history] == [first["review_id"], second["review_id"]]
	written = {row["modified"] for row in logged().values()}
	assert len(written) == 1  # one transaction: the first job took the second over
	assert_chained(history)
	tracker = db.sql(
		"select last_review_id, reps from `tabPlayer Memory Tracker` where player = %s and question_id = 'q1'",
		(PLAYER,),
	)
	assert tracker == ((second["review_id"], 2),)


def test_a_client_retry_and_a_batch_written_again_add_no_row(db, workers):
	seed((PLAYER,), ("q1",))
	workers("short")
	first = answer(PLAYER, "q1", review_id="client-7")
	retry = answer(PLAYER, "q1", review_id="client-7")
	assert retry["already_applied"] and retry["job_id"] == first["job_id"]
	assert wait_until(lambda: job_status(first["job_id"]) == "finished", timeout=30)
	before = logged()
	assert list(before) == ["client-7"]

	# Beyond the idempotency window, as a replay of an old failure or a redelivery would write it.
	states = runtime.fetch_job(first["job_id"]).kwargs["responses"]
	with runtime.override_settings(idempotency_window=0):
		assert persistence.persist_review_batch(states, PLAYER, SEASON)["success"]
		assert persistence.persist_review_batch(states * 2, PLAYER, SEASON)["success"]
	assert logged() == before  # not even `modified` moved


def test_reviews_of_an_erased_player_are_not_logged():
	"""A batch already running when its player is erased (a queued one is deleted with them) writes no
	log row, as it writes no tracker row."""
	srs.erase_player(PLAYER)
	assert persistence.persist_review_batch([card("q1", "r-before", time.time() - 5)], PLAYER, SEASON)[
		"success"
	]
	assert logged() == {}


@pytest.mark.fault
def test_a_worker_killed_mid_batch_logs_each_review_once_after_recovery(db, workers):
	"""The log rows go first in the transaction: the kill lands while the tracker upsert waits on a row
	lock, after the log insert ran, and takes both with it."""
	now = time.time()
	persistence.persist_review_batch([card("q0", "before", now - 100)], PLAYER, SEASON)
	states = [card("q0", "r0", now), *(card(f"q{i}", f"r{i}", now) for i in range(1, 5))]
	job_id = kill_worker_mid_batch(db, workers, states, PLAYER, SEASON)
	assert sorted(logged()) == ["before"]

	workers("short")  # redelivers the job when it starts
	assert wait_until(lambda: job_status(job_id) == "finished", timeout=30)
	assert sorted(logged()) == ["before", "r0", "r1", "r2", "r3", "r4"]
	assert runtime.fetch_job(job_id).redeliveries == 1


# --- random programs -----------------------------------------------------------------------------

PLAYERS = ("ana@example.com", "ben@example.com")
CARDS = ("q1", "q2", "q3")


class World:
	"""One worker that reaches MariaDB through a proxy the program cuts (its batches then fail, with no
	retries, and wait for a replay) and that the program pauses (batches queue up behind the paused
	worker, which takes them over when it goes on) or kills."""

	def __init__(self) -> None:
		self.proxy = CuttableProxy(runtime.db_config()["host"], runtime.db_config()["port"])
		self.env = {"MEMORA_DB_PORT": str(self.proxy.port), "MEMORA_MAX_RETRIES": "0"}
		self.worker = WorkerProcess(("short",), env=self.env)
		self.paused = False

	def pause(self) -> None:
		if not self.paused:
			os.kill(self.worker.process.pid, signal.SIGSTOP)
			self.paused = True

	def resume(self) -> None:
		if self.paused:
			os.kill(self.worker.process.pid, signal.SIGCONT)
			self.paused = False

	def restart(self) -> None:
		self.resume()
		self.worker.kill()
		self.worker = WorkerProcess(("short",), env=self.env)

	def close(self) -> None:
		self.resume()
		self.worker.kill()
		self.proxy.close()


FAULTS = ("pause", "resume", "cut", "restore", "replay", "kill")
WORK_SECONDS = 1.0  # how long a "work" step lets the worker run at most
answers = st.tuples(
	st.just("answer"),
	st.sampled_from(PLAYERS),
	st.lists(st.sampled_from(CARDS), min_size=1, max_size=3, unique=True),
	st.booleans(),  # correct
	st.sampled_from((0, 1500, 4000, 9000)),  # duration_ms
	st.booleans(),  # with client review ids
)
retries = st.tuples(st.just("retry"), st.sampled_from(PLAYERS))
faults = st.tuples(st.sampled_from(FAULTS))
work = st.tuples(st.just("work"))
# Answers are most of a program, and the worker gets time to write them, so that faults land on
# batches in flight.
steps = st.one_of(answers, answers, work, work, retries, faults)


class Program:
	"""Runs one program's steps against `World`; its model is every answer Memora accepted (not
	`already_applied`), by review id."""

	def __init__(self, world: World) -> None:
		self.world = world
		self.accepted: dict[str, list[dict]] = defaultdict(list)
		self.last: dict[str, list[dict]] = {}
		self.client_ids = itertools.count()

	def submit(self, player: str, responses: list[dict]) -> None:
		result = reviews.submit_review_session(player, SEASON, responses)
		for state in result["results"]:
			if not state["already_applied"]:
				self.accepted[state["review_id"]].append({**state, "player": player})
		self.last[player] = responses

	def run(self, step: tuple) -> None:
		kind, *args = step
		if kind == "answer":
			player, answered, correct, duration_ms, with_ids = args
			responses = [
				{"question_id": q, "is_correct": correct, "duration_ms": duration_ms} for q in answered
			]
			for response in responses if with_ids else ():
				response["review_id"] = f"c{next(self.client_ids)}"
			self.submit(player, responses)
		elif kind == "retry" and args[0] in self.last:
			# The player's last submission sent again (a lost reply): with client ids nothing is new;
			# without, its answers are new ones (their ids come from their time).
			self.submit(args[0], self.last[args[0]])
		elif kind == "pause":
			self.world.pause()
		elif kind == "resume":
			self.world.resume()
		elif kind == "cut":
			self.world.proxy.cut()
		elif kind == "restore":
			self.world.proxy.restore()
		elif kind == "replay":
			persistence.replay_failed()
		elif kind == "kill":
			self.world.restart()
		elif kind == "work":
			queue = runtime.rq_queue("short")
			wait_until(lambda: queue.count == queue.started_job_registry.count == 0, timeout=WORK_SECONDS)
		assert set(logged()) <= set(self.accepted)

	def check(self) -> None:
		"""At quiescence: one log row per accepted answer, holding that answer, each card's rows chained."""
		self.world.resume()
		self.world.proxy.restore()
		drain()
		rows = logged()
		assert sorted(rows) == sorted(self.accepted)
		by_card = defaultdict(list)
		for review_id, row in rows.items():
			(accepted,) = self.accepted[review_id]  # every review id names one answer
			assert (row["player"], row["question_id"], row["rating"], row["state_after"]) == (
				accepted["player"],
				accepted["question_id"],
				accepted["rating"],
				accepted["state"],
			)
			assert row["next_review_date"] == runtime.from_ts(accepted["next_review_ts"])
			by_card[row["player"], row["question_id"]].append(row)
		for history in by_card.values():
			assert_chained(sorted(history, key=lambda row: (row["reviewed_at"], row["name"])))


def drain() -> None:
	"""Until every batch handed to persistence is written: crash recovery and replays as the scheduler
	and an admin run them."""

	def quiet() -> bool:
		persistence.recover_abandoned_jobs()
		persistence.replay_failed()
		queue = runtime.rq_queue("short")
		unwritten = runtime.queue_connection().zcard(in_flight.index_key())
		return queue.count == queue.started_job_registry.count == unwritten == 0

	assert wait_until(quiet, timeout=60, interval=0.1), "the persistence queue did not drain"


@pytest.fixture(scope="module")
def world(memora_database):
	world = World()
	yield world
	world.close()


@pytest.mark.slow
@pytest.mark.fault
@settings(
	max_examples=PROGRAMS,
	derandomize=not LONG_RUN,
	deadline=None,
	database=None,
	suppress_health_check=list(HealthCheck),
)
@given(program=st.lists(steps, min_size=8, max_size=30))
def test_the_log_is_the_accepted_answers_under_random_programs(world, monkeypatch, program):
	# Jobs a killed worker took off the queue are put back sooner than in production (runs are
	# sequential here: no live worker can be caught starting them).
	monkeypatch.setattr(persistence_jobs, "STRANDED_AFTER", 0.5)
	world.resume()
	world.proxy.restore()
	clear_tables()
	clear_keys()
	standalone.purge_queues(runtime.database_name())
	seed(PLAYERS, CARDS)
	run = Program(world)
	for step in program:
		run.run(step)
	run.check()
