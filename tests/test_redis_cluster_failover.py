"""A primary of Memora's Redis Cluster dies (SIGKILL) while players answer: Memora serves from MariaDB
for the failover window, comes back to Redis on its own once a replica is promoted, writes every
accepted answer exactly once, and leaves every queue equal to its rows and pending states."""

from __future__ import annotations

import time

import pytest

from memora import runtime
from memora.runtime import breaker
from memora.services.srs import keys, reconciliation_runs, reviews
from tests.harness.redis_cluster import ThrowawayRedisCluster
from tests.harness.workers import wait_until
from tests.srs_data import SEASON, insert_trackers, make_season, tracker

pytestmark = [pytest.mark.fault, pytest.mark.slow]

PLAYERS = [f"player-{n}@example.com" for n in range(12)]
CARDS = [f"q{n}" for n in range(6)]
PROBE_INTERVAL = 1


@pytest.fixture
def cluster_with_replicas(monkeypatch):
	cluster = ThrowawayRedisCluster(primaries=3, replicas_per_primary=1)
	cluster.start()
	monkeypatch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
	monkeypatch.setenv("MEMORA_REDIS_URL", cluster.url)
	with runtime.override_settings(safe_mode_probe_interval=PROBE_INTERVAL):
		yield cluster
	cluster.stop()


def answer(player: str, card: str) -> tuple[bool, bool]:
	"""(accepted, in safe mode) of one answer; an answer refused with an error is not accepted."""
	try:
		result = reviews.submit_review_session(
			player, SEASON, [{"question_id": card, "is_correct": True, "duration_ms": 1500}]
		)
	except Exception:
		return False, False
	return result["accepted"] == 1, result["safe_mode"]


def test_a_primary_killed_mid_session_loses_no_accepted_answer(cluster_with_replicas, workers):
	cluster = cluster_with_replicas
	make_season()
	now = time.time()
	for player in PLAYERS:
		insert_trackers(player, SEASON, {card: now - 60 for card in CARDS})
	runtime.db().commit()
	workers()
	answers = [(player, card) for card in CARDS for player in PLAYERS]
	accepted: set[tuple[str, str]] = set()
	seen_safe_mode = recovered = False
	victim = cluster.primary_for_key(keys.queue_key(PLAYERS[0], SEASON))

	for n, (player, card) in enumerate(answers):
		if n == len(answers) // 4:
			cluster.kill(victim)
		if n == len(answers) // 2:
			cluster.wait_for_failover(victim)
		ok, safe_mode = answer(player, card)
		if ok:
			accepted.add((player, card))
		seen_safe_mode |= safe_mode
		recovered |= seen_safe_mode and ok and not safe_mode
		if seen_safe_mode and not recovered and n >= len(answers) // 2:
			# After the failover the breaker probes Redis again once its interval has passed.
			wait_until(breaker.for_client(runtime.redis_client()).allows, timeout=10 * PROBE_INTERVAL)

	assert seen_safe_mode, "the failover window was served from MariaDB"
	assert recovered, "Memora went back to Redis on its own after the failover"
	assert len(accepted) > len(answers) // 2

	def landed() -> bool:
		return all(
			(tracker(player, SEASON, card)["reps"] == 1) == ((player, card) in accepted)
			for player in PLAYERS
			for card in CARDS
		)

	assert wait_until(landed, timeout=60), "every accepted answer written once, no other"
	summary = reconciliation_runs.reconcile_cache_with_database(SEASON)
	assert summary["discrepancies"] == 0, summary
