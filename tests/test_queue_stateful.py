"""Random programs against the queue rule, on the real MariaDB, Redis, RQ workers and fault proxies.

Each program interleaves answers, tracker edits through the service function the document events
call, `add_item` / `remove_item`, wiped keys (a cache clear), Redis cut with and without losing its
data, MariaDB cut, killed workers, rebuilds and reconciliations. At quiescence (everything restored,
the queue drained, crash recovery and re-syncs done) every player's queue equals their rows overlaid
with their pending reviews, reconciliation finds nothing to correct, and every accepted answer is in
MariaDB (a card's reps count its answers).

`make test` runs a fixed number of derandomized programs; a long run of new random ones (docs/srs.md):
`MEMORA_STATEFUL_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_queue_stateful.py`.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pymysql
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from memora import runtime, standalone
from memora.exceptions import MemoraError
from memora.services.srs import (
	in_flight,
	keys,
	pending,
	persistence,
	reconciliation,
	reconciliation_runs,
	resync_marks,
)
from memora.services.srs.card import tracker_name
from memora.services.srs.persistence import jobs as persistence_jobs
from memora.services.srs.queue import SRSRedisManager
from memora.services.srs.rebuild import rebuild_season_cache
from memora.services.srs.reviews import get_review_session, submit_review_session
from tests.conftest import clear_tables
from tests.harness.proxy import CuttableProxy
from tests.harness.workers import WorkerProcess, wait_until
from tests.srs_data import SEASON, insert_trackers, make_season

pytestmark = [pytest.mark.fault, pytest.mark.slow]

PLAYERS = ("ana@example.com", "ben@example.com")
CARDS = ("q1", "q2", "q3", "q4")
# `make test` runs the same derandomized programs every time; a long run sets the count and gets new
# random programs on every run.
LONG_RUN = "MEMORA_STATEFUL_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("MEMORA_STATEFUL_EXAMPLES", "30"))
STEPS = int(os.environ.get("MEMORA_STATEFUL_STEPS", "40"))
PROBE_INTERVAL = 0.1
QUIET_TIMEOUT = 60
TRACKERS = "`tabPlayer Memory Tracker`"

players = st.sampled_from(PLAYERS)
cards = st.sampled_from(CARDS)
# Next review times from overdue to far ahead, in whole seconds as the scheduler writes them.
offsets = st.integers(min_value=-86400, max_value=30 * 86400)


class World:
	"""The real parts every program acts on: Memora's Redis (a throwaway server behind a proxy), the
	test process's MariaDB connection (behind a proxy) and one worker at a time."""

	def __init__(self, server, monkeypatch) -> None:
		self.server = server
		self.redis_proxy = CuttableProxy("127.0.0.1", server.port)
		self.db_proxy = CuttableProxy(runtime.db_config()["host"], runtime.db_config()["port"])
		self.worker_env = {
			"MEMORA_REDIS_URL": f"redis://127.0.0.1:{self.redis_proxy.port}/0",
			"MEMORA_QUEUE_URL": runtime.queue_url(),
			"MEMORA_DB_PORT": str(runtime.db_config()["port"]),
		}
		monkeypatch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
		monkeypatch.setenv("MEMORA_REDIS_URL", self.worker_env["MEMORA_REDIS_URL"])
		monkeypatch.setenv("MEMORA_DB_PORT", str(self.db_proxy.port))
		self.worker: WorkerProcess | None = None

	def direct_redis(self) -> redis.Redis:
		"""Memora's Redis without the proxy: wiping keys works while the proxy is cut."""
		return redis.Redis(port=self.server.port, decode_responses=True)

	def restore(self) -> None:
		self.redis_proxy.restore()
		self.db_proxy.restore()
		runtime.db().close()  # a connection the cut dropped fails once more otherwise
		if self.worker is None or not self.worker.alive:
			self.worker = WorkerProcess(env=self.worker_env)

	def reset(self) -> None:
		"""An empty world for the next program."""
		self.restore()
		clear_tables()
		self.direct_redis().flushdb()
		standalone.purge_queues(runtime.database_name())

	def close(self) -> None:
		if self.worker:
			self.worker.kill()
		self.redis_proxy.close()
		self.db_proxy.close()


world: World | None = None


class QueueRule(RuleBasedStateMachine):
	def __init__(self) -> None:
		super().__init__()
		world.reset()
		self.answers: Counter[tuple[str, str]] = Counter()
		# Cards whose row was deleted: their reps start over, so they are not counted.
		self.retired: set[tuple[str, str]] = set()

	@initialize()
	def seed(self) -> None:
		make_season()
		now = time.time()
		for player in PLAYERS:
			insert_trackers(player, SEASON, {card: now - 60 * (i + 1) for i, card in enumerate(CARDS[:3])})

	# --- what players, callers and admins do ---------------------------------------------------------

	@rule(
		player=players, answered=st.lists(cards, min_size=1, max_size=2, unique=True), correct=st.booleans()
	)
	def answer_cards(self, player: str, answered: list[str], correct: bool) -> None:
		self.submit(player, answered, correct)

	@rule(player=players, correct=st.booleans())
	def answer_due_cards(self, player: str, correct: bool) -> None:
		"""What a player does: open the session and answer what it shows."""
		try:
			due = get_review_session(player, SEASON, limit=3)["questions"]
		except DB_ERRORS:
			runtime.reset_db_after_error()
			return
		if due:
			self.submit(player, due, correct)

	def submit(self, player: str, answered: list[str], correct: bool) -> None:
		responses = [{"question_id": q, "is_correct": correct, "duration_ms": 3000} for q in answered]
		try:
			result = submit_review_session(player, SEASON, responses)
		except (MemoraError, *DB_ERRORS):
			runtime.reset_db_after_error()
			return
		for card in result["results"]:
			if not card["already_applied"]:
				self.answers[player, card["question_id"]] += 1

	@rule(player=players, card=cards, offset=offsets)
	def schedule(self, player: str, card: str, offset: int) -> None:
		try:
			SRSRedisManager().add_item(player, SEASON, card, round(time.time()) + offset)
		except DB_ERRORS:
			runtime.reset_db_after_error()

	@rule(player=players, card=cards)
	def remove(self, player: str, card: str) -> None:
		try:
			if SRSRedisManager().remove_item(player, SEASON, card):
				self.retired.add((player, card))
		except DB_ERRORS:
			runtime.reset_db_after_error()

	@rule(player=players, card=cards, offset=offsets)
	def edit_tracker(self, player: str, card: str, offset: int) -> None:
		self.tracker_edit(
			f"update {TRACKERS} set next_review_date = %s where player = %s and season = %s and question_id = %s",
			(runtime.from_ts(round(time.time()) + offset), player, SEASON, card),
			player,
		)

	@rule(player=players, card=cards)
	def insert_tracker(self, player: str, card: str) -> None:
		self.tracker_edit(
			f"insert ignore into {TRACKERS} (name, player, season, question_id, next_review_date) "
			"values (%s, %s, %s, %s, %s)",
			(tracker_name(player, SEASON, card), player, SEASON, card, runtime.now()),
			player,
		)

	@rule(player=players, card=cards)
	def delete_tracker(self, player: str, card: str) -> None:
		if self.tracker_edit(
			f"delete from {TRACKERS} where player = %s and season = %s and question_id = %s",
			(player, SEASON, card),
			player,
		):
			self.retired.add((player, card))

	def tracker_edit(self, sql: str, values: tuple, player: str) -> bool:
		"""A change as Desk, REST or Data Import make it: the row commits, then the document events call
		the same service function."""
		try:
			runtime.db().sql(sql, values)
			runtime.db().commit()
		except DB_ERRORS:
			runtime.reset_db_after_error()
			return False
		SRSRedisManager().sync_queues([(player, SEASON)], "tracker_edit")
		return True

	@rule()
	def rebuild(self) -> None:
		try:
			rebuild_season_cache(SEASON, batch_size=3)
		except DB_ERRORS:
			runtime.reset_db_after_error()

	@rule()
	def reconcile(self) -> None:
		try:
			reconciliation_runs.reconcile_cache_with_database(SEASON)
		except (*DB_ERRORS, redis.RedisError):
			runtime.reset_db_after_error()

	# --- faults -----------------------------------------------------------------------------------------

	@rule()
	def wipe_keys(self) -> None:
		"""What `frappe.clear_cache()` did before Memora declared its keys, or an operator's FLUSHDB."""
		world.direct_redis().flushdb()

	@rule()
	def cut_redis(self) -> None:
		world.redis_proxy.cut()

	@rule()
	def restore_redis(self) -> None:
		world.redis_proxy.restore()

	@rule()
	def restart_redis_empty(self) -> None:
		world.server.stop()
		world.server.start()

	@rule()
	def cut_mariadb(self) -> None:
		world.db_proxy.cut()

	@rule()
	def restore_mariadb(self) -> None:
		world.db_proxy.restore()

	@rule()
	def kill_worker(self) -> None:
		world.worker.kill()
		world.worker = WorkerProcess(env=world.worker_env)

	# --- quiescence --------------------------------------------------------------------------------------

	def teardown(self) -> None:
		world.restore()
		drain()
		time.sleep(PROBE_INTERVAL)
		for player in PLAYERS:
			SRSRedisManager().due_session(player, SEASON)  # the probe re-syncs; a lost queue rehydrates
		resync_marks.recover()
		for player in PLAYERS:
			check_player(player, self.answers, self.retired)


# What a call meets while MariaDB is cut (the proxy refuses or drops the connection).
DB_ERRORS = (pymysql.err.Error, OSError)


def drain() -> None:
	"""Until every batch handed to persistence is written (none queued, running, failed, or taken off
	the queue by a killed worker): crash recovery and replays as the scheduler and an admin run them."""

	def quiet() -> bool:
		persistence.recover_abandoned_jobs()
		persistence.replay_failed()
		queue = runtime.rq_queue(runtime.settings().persistence_queue)
		unwritten = runtime.queue_connection().zcard(in_flight.index_key())
		return queue.count == 0 and queue.started_job_registry.count == 0 and unwritten == 0

	assert wait_until(quiet, timeout=QUIET_TIMEOUT, interval=0.1), "the persistence queue did not drain"


def check_player(player: str, answers: Counter, retired: set) -> None:
	runtime.db().rollback()
	rows = runtime.db().sql(
		f"select question_id, next_review_date, reps from {TRACKERS} where player = %s and season = %s",
		(player, SEASON),
	)
	schedule = {qid: runtime.to_ts(due) if due else 0.0 for qid, due, _ in rows}
	expected = pending.overlay(schedule, pending.get_all(player, SEASON))
	client = runtime.redis_client()
	actual = dict(client.zrange(keys.queue_key(player, SEASON), 0, -1, withscores=True))
	assert actual == pytest.approx(expected, abs=1e-3), (player, actual, expected)
	reconciled = reconciliation.reconcile_user_season(player, SEASON)
	assert reconciled["discrepancies"] == 0, (player, reconciled, actual, expected)
	reps = {qid: count for qid, _, count in rows}
	for card in CARDS:
		if (player, card) not in retired and answers[player, card]:
			assert reps.get(card) == answers[player, card], (player, card, reps, answers)


def test_queue_equals_rows_and_pending_under_random_programs(throwaway_redis, monkeypatch):
	global world
	world = World(throwaway_redis, monkeypatch)
	# Jobs a killed worker took off the queue are put back sooner than in production (no live worker
	# can be caught starting them: runs are sequential here).
	monkeypatch.setattr(persistence_jobs, "STRANDED_AFTER", 0.5)
	try:
		with runtime.override_settings(safe_mode_probe_interval=PROBE_INTERVAL, max_retries=5):
			run_state_machine_as_test(
				QueueRule,
				settings=settings(
					max_examples=EXAMPLES,
					stateful_step_count=STEPS,
					deadline=None,
					derandomize=not LONG_RUN,
					database=None,
					suppress_health_check=list(HealthCheck),
				),
			)
	finally:
		world.close()
		world = None
		runtime.db().close()
