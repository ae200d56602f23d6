"""Memora on a real Redis Cluster (the `--redis-cluster` pass of `make test`): the cluster client is
chosen by asking the node, players spread over every primary, the review path runs without safe mode
and its answers land, and the job queue refuses a cluster."""

from __future__ import annotations

import time

import pytest

from memora import runtime
from memora.runtime import breaker
from memora.runtime.jobs.queue import QueueIsCluster
from memora.services.srs import keys, reconciliation_runs, reviews
from memora.services.srs.queue import SRSRedisManager
from tests.harness.workers import wait_until
from tests.srs_data import SEASON, insert_trackers, make_season, tracker

PLAYERS = [f"player-{n}@example.com" for n in range(24)]


@pytest.fixture
def cluster(redis_cluster):
	if redis_cluster is None:
		pytest.skip("runs in the cluster pass of `make test` (pytest --redis-cluster)")
	return redis_cluster


def test_the_data_client_is_the_cluster_client(cluster):
	client = runtime.redis_client()
	assert runtime.is_cluster(client)
	assert breaker.server_name(client).startswith("redis-cluster://")


def test_reviews_on_a_cluster_spread_over_every_primary_and_land(cluster, workers):
	make_season()
	now = time.time()
	for player in PLAYERS:
		insert_trackers(player, SEASON, {"q1": now - 60, "q2": now - 30})
	runtime.db().commit()
	answers = [{"question_id": "q1", "is_correct": True, "duration_ms": 2000}]
	for player in PLAYERS:
		result = reviews.submit_review_session(player, SEASON, answers)
		assert result["accepted"] == 1 and not result["safe_mode"]

	owners = {cluster.primary_for_key(keys.queue_key(player, SEASON)) for player in PLAYERS}
	assert owners == set(cluster.primaries())
	assert not breaker.for_client(runtime.redis_client()).is_open

	workers()
	assert wait_until(lambda: all(tracker(p, SEASON, "q1")["reps"] == 1 for p in PLAYERS), timeout=60)
	summary = reconciliation_runs.reconcile_cache_with_database(SEASON)
	assert summary["discrepancies"] == 0 and summary["players_checked"] == len(PLAYERS), summary
	assert SRSRedisManager().get_due_items(PLAYERS[0], SEASON) == ["q2"]


def test_the_job_queue_refuses_a_cluster(cluster, monkeypatch):
	monkeypatch.setenv("MEMORA_QUEUE_URL", cluster.url)
	with pytest.raises(QueueIsCluster, match="MEMORA_QUEUE_URL"):
		runtime.queue_connection()
