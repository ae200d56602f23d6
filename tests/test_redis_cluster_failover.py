"""A primary of Memora's Redis Cluster dies (SIGKILL), or is cut off from Memora by a network partition,
while players answer: Memora serves from MariaDB for the outage, comes back to Redis on its own once a
replica is promoted or the partition heals, writes every accepted answer exactly once, and leaves every
queue equal to its rows and pending states."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

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


@contextmanager
def memora_on(cluster: ThrowawayRedisCluster, monkeypatch) -> Iterator[ThrowawayRedisCluster]:
	"""Memora's data (and its workers') on `cluster`, RQ where it was, safe mode probing every second."""
	cluster.start()
	monkeypatch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
	monkeypatch.setenv("MEMORA_REDIS_URL", cluster.url)
	try:
		with runtime.override_settings(safe_mode_probe_interval=PROBE_INTERVAL):
			yield cluster
	finally:
		cluster.stop()


@pytest.fixture
def cluster_with_replicas(monkeypatch):
	with memora_on(ThrowawayRedisCluster(primaries=3, replicas_per_primary=1), monkeypatch) as cluster:
		yield cluster


@pytest.fixture
def proxied_cluster(monkeypatch):
	"""Memora reaches every node through a proxy the test can cut."""
	with memora_on(ThrowawayRedisCluster(primaries=3, proxied=True), monkeypatch) as cluster:
		yield cluster


def answer(player: str, card: str) -> tuple[bool, bool]:
	"""(accepted, in safe mode) of one answer; an answer refused with an error is not accepted."""
	try:
		result = reviews.submit_review_session(
			player, SEASON, [{"question_id": card, "is_correct": True, "duration_ms": 1500}]
		)
	except Exception:
		return False, False
	return result["accepted"] == 1, result["safe_mode"]


def start_session(workers) -> list[tuple[str, str]]:
	"""A season whose every card is due for every player, workers running; the answers to give, in order."""
	make_season()
	now = time.time()
	for player in PLAYERS:
		insert_trackers(player, SEASON, {card: now - 60 for card in CARDS})
	runtime.db().commit()
	workers()
	return [(player, card) for card in CARDS for player in PLAYERS]


def assert_landed_once(accepted: set[tuple[str, str]]) -> None:
	"""Every accepted answer is written once and no other is, and the cache agrees with MariaDB."""

	def landed() -> bool:
		return all(
			(tracker(player, SEASON, card)["reps"] == 1) == ((player, card) in accepted)
			for player in PLAYERS
			for card in CARDS
		)

	assert wait_until(landed, timeout=60), "every accepted answer written once, no other"
	summary = reconciliation_runs.reconcile_cache_with_database(SEASON)
	assert summary["discrepancies"] == 0, summary


class Session(NamedTuple):
	accepted: set[tuple[str, str]]
	seen_safe_mode: bool
	recovered: bool
	during_fault: list[tuple[str, bool, bool]]  # (player, accepted, in safe mode) while the fault lasted


def answer_through_a_fault(
	answers: list[tuple[str, str]], fault: Callable[[], None], mend: Callable[[], None]
):
	"""Give every answer; a quarter of the way in `fault()` breaks the cluster, halfway `mend()` waits for
	it to be whole. After the mend, a call in safe mode waits for the breaker's next probe."""
	accepted: set[tuple[str, str]] = set()
	during_fault: list[tuple[str, bool, bool]] = []
	seen_safe_mode = recovered = False
	for n, (player, card) in enumerate(answers):
		if n == len(answers) // 4:
			fault()
		if n == len(answers) // 2:
			mend()
		ok, safe_mode = answer(player, card)
		if ok:
			accepted.add((player, card))
		if len(answers) // 4 <= n < len(answers) // 2:
			during_fault.append((player, ok, safe_mode))
		seen_safe_mode |= safe_mode
		recovered |= seen_safe_mode and ok and not safe_mode
		if seen_safe_mode and not recovered and n >= len(answers) // 2:
			wait_until(breaker.for_client(runtime.redis_client()).allows, timeout=10 * PROBE_INTERVAL)
	return Session(accepted, seen_safe_mode, recovered, during_fault)


def test_a_primary_killed_mid_session_loses_no_accepted_answer(cluster_with_replicas, workers):
	cluster = cluster_with_replicas
	answers = start_session(workers)
	victim = cluster.primary_for_key(keys.queue_key(PLAYERS[0], SEASON))

	session = answer_through_a_fault(
		answers, lambda: cluster.kill(victim), lambda: cluster.wait_for_failover(victim)
	)

	assert session.seen_safe_mode, "the failover window was served from MariaDB"
	assert session.recovered, "Memora went back to Redis on its own after the failover"
	assert len(session.accepted) > len(answers) // 2
	assert_landed_once(session.accepted)


@pytest.mark.parametrize("through_victim", [False, True], ids=["url-names-another-node", "url-names-victim"])
def test_a_primary_partitioned_from_memora_mid_session_loses_no_accepted_answer(
	proxied_cluster, workers, monkeypatch, through_victim
):
	"""Whether the node Memora's URL names is the one cut off matters: a process that starts during the
	partition (an RQ work horse) cannot learn the cluster's layout from it."""
	cluster = proxied_cluster
	victim = cluster.primary_for_key(keys.queue_key(PLAYERS[0], SEASON))
	url_node = victim if through_victim else next(port for port in cluster.ports if port != victim)
	monkeypatch.setenv("MEMORA_REDIS_URL", cluster.node_url(url_node))
	answers = start_session(workers)
	victims_players = {p for p in PLAYERS if cluster.primary_for_key(keys.queue_key(p, SEASON)) == victim}

	session = answer_through_a_fault(answers, lambda: cluster.partition(victim), lambda: cluster.heal(victim))

	# No failover: the other nodes still saw the victim over the bus, so it kept its slots.
	assert cluster.primary_for_key(keys.queue_key(PLAYERS[0], SEASON)) == victim
	assert session.seen_safe_mode, "the partition was served from MariaDB"
	assert all(
		ok and safe_mode for player, ok, safe_mode in session.during_fault if player in victims_players
	), "every answer of a player whose queue was cut off was accepted, in safe mode"
	assert session.recovered, "Memora went back to Redis on its own after the partition healed"
	assert len(session.accepted) > len(answers) // 2
	assert_landed_once(session.accepted)
