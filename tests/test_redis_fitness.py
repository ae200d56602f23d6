"""Whether Memora's data Redis can evict SRS data, or has: read from real redis-servers of the tests' own
(a plain one and a 3-primary cluster) whose policy and limit the tests set, and said in the summary, the
metrics, `memora stats` and `bench migrate`'s lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner

from memora import cli, install, runtime
from memora.services import metrics_report, redis_fitness
from memora.services.redis_fitness import NodeMemory
from memora.services.srs import keys, overview, pending
from tests.harness.redis_cluster import ThrowawayRedisCluster

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def memora_redis(throwaway_redis, monkeypatch) -> Iterator[redis.Redis]:
	"""Memora's data goes to the test's own redis-server; the client returned talks to it directly, for
	CONFIG SET (never sent to the machine's shared Redis)."""
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	client = redis.Redis.from_url(throwaway_redis.url, decode_responses=True)
	yield client
	client.close()


@pytest.fixture
def node(throwaway_redis) -> str:
	return f"127.0.0.1:{throwaway_redis.port}"


def limit(client: redis.Redis, policy: str, maxmemory: int = TEN_MB) -> None:
	client.config_set("maxmemory-policy", policy)
	client.config_set("maxmemory", maxmemory)


def fill_until_evicted(client: redis.Redis) -> int:
	"""Write 100 kB values until the server has evicted something; returns how many it evicted."""
	value = "x" * 100_000
	for batch in range(100):  # 100 MB at most, ten times the limit the tests set
		pipe = client.pipeline(transaction=False)
		for i in range(10):
			pipe.set(f"fill:{batch}:{i}", value)
		pipe.execute()
		evicted = client.info("stats")["evicted_keys"]
		if evicted:
			return evicted
	raise AssertionError("the server never evicted a key")


def test_a_redis_without_maxmemory_never_evicts_whatever_its_policy(memora_redis, node):
	summary = redis_fitness.check()
	assert summary["safe"] is True and summary["problems"] == [] and summary["evicted_keys"] == 0
	assert [(n["node"], n["policy"], n["maxmemory"]) for n in summary["nodes"]] == [(node, "noeviction", 0)]

	limit(memora_redis, "allkeys-lru", 0)
	assert redis_fitness.check()["safe"] is True
	# noeviction with a limit refuses writes when full (OOM); it never drops data.
	limit(memora_redis, "noeviction")
	assert redis_fitness.check() | {"nodes": None} == {
		"safe": True,
		"evicted_keys": 0,
		"nodes": None,
		"problems": [],
	}


def test_allkeys_lru_with_a_limit_can_evict_and_says_so(memora_redis, node):
	limit(memora_redis, "allkeys-lru")
	summary = redis_fitness.check()
	assert summary["safe"] is False
	assert summary["nodes"][0]["maxmemory"] == TEN_MB and summary["nodes"][0]["can_evict"] is True
	[problem] = summary["problems"]
	assert problem.startswith(f"Redis {node} evicts any key when it is full (maxmemory-policy allkeys-lru")
	assert "review queues" in problem and "pending reviews" in problem
	assert redis_fitness.headline(summary) == "Can evict SRS data"


def test_volatile_policies_can_evict_the_pending_hashes_too(memora_redis, node):
	"""Every SRS key carries a TTL, the pending hash included: volatile-* is no refuge for it."""
	pipe = runtime.redis_client().pipeline(transaction=False)
	pending.record(pipe, "p@example.com", "Fit 2025", [{"question_id": "q1", "review_id": "r1"}])
	pipe.execute()
	assert (
		0 < runtime.redis_client().ttl(keys.pending_key("p@example.com", "Fit 2025")) <= pending.PENDING_TTL
	)

	for policy in ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"):
		limit(memora_redis, policy)
		summary = redis_fitness.check()
		assert summary["safe"] is False, policy
		[problem] = summary["problems"]
		assert problem.startswith(f"Redis {node} evicts keys that carry a TTL"), problem
		assert f"maxmemory-policy {policy}" in problem
		assert "pending-review hashes (7 days)" in problem


def test_keys_evicted_are_reported_even_once_the_policy_is_fixed(memora_redis, node):
	limit(memora_redis, "allkeys-lru")
	evicted = fill_until_evicted(memora_redis)

	summary = redis_fitness.check()
	assert summary["safe"] is False and summary["evicted_keys"] >= evicted
	assert len(summary["problems"]) == 2
	assert re.match(
		rf"Redis {re.escape(node)} has evicted [0-9,]+ keys since it started", summary["problems"][1]
	)
	assert redis_fitness.headline(summary).startswith("Evicted ")

	# The policy is safe now, the keys are gone all the same: said until the statistics are reset.
	limit(memora_redis, "noeviction")
	summary = redis_fitness.check()
	assert summary["safe"] is True and summary["evicted_keys"] >= evicted
	[problem] = summary["problems"]
	assert "has evicted" in problem
	memora_redis.config_resetstat()
	assert redis_fitness.check()["problems"] == []


def test_metrics_carry_the_verdict_per_primary(memora_redis, node):
	limit(memora_redis, "allkeys-lru")
	lines = metrics_report.prometheus_text().splitlines()
	assert "memora_redis_eviction_safe 0" in lines
	assert "memora_redis_evicted_keys 0" in lines
	assert f'memora_redis_maxmemory_bytes{{node="{node}"}} {TEN_MB}' in lines
	assert f'memora_redis_maxmemory_policy{{node="{node}",policy="allkeys-lru"}} 1' in lines
	assert any(line.startswith(f'memora_redis_used_memory_bytes{{node="{node}"}} ') for line in lines)
	assert "# TYPE memora_redis_eviction_safe gauge" in lines

	snapshot = metrics_report.snapshot()
	assert snapshot["redis"]["safe"] is False and len(snapshot["redis"]["problems"]) == 1
	json.dumps(snapshot)  # the endpoint answers it as JSON

	limit(memora_redis, "noeviction")
	assert "memora_redis_eviction_safe 1" in metrics_report.prometheus_text().splitlines()


def test_stats_migrate_and_desk_say_it_plainly(memora_redis, node):
	limit(memora_redis, "allkeys-lru")

	result = CliRunner().invoke(cli.main, ["stats"], catch_exceptions=False)
	assert result.exit_code == 0, result.output
	assert "Redis for Memora's data" in result.output
	row = next(line for line in result.output.splitlines() if node in line and "│" in line)
	assert "allkeys-lru" in row and "10,485,760" in row
	assert f"Warning: Redis {node} evicts any key when it is full" in result.output

	said: list[str] = []
	lines = install.report_redis_fitness(said.append)
	assert said == lines and len(lines) == 2
	assert lines[0].startswith(f"Memora: Redis {node} evicts any key") and "operations.md" in lines[1]

	desk = overview.redis_eviction()
	assert desk["headline"] == "Can evict SRS data" and desk["problems"] == redis_fitness.check()["problems"]

	limit(memora_redis, "noeviction")
	assert install.report_redis_fitness(said.append) == []
	assert "Warning:" not in CliRunner().invoke(cli.main, ["stats"], catch_exceptions=False).output
	assert overview.redis_eviction()["headline"] == "Safe"


@pytest.mark.fault
def test_a_redis_that_does_not_answer_is_unknown_not_a_failure(memora_redis, throwaway_redis):
	with runtime.override_settings(safe_mode_probe_interval=0):
		throwaway_redis.stop()
		summary = redis_fitness.check()
		assert summary["safe"] is None and summary["nodes"] == [] and summary["evicted_keys"] is None
		[problem] = summary["problems"]
		assert problem.startswith(f"Redis redis://127.0.0.1:{throwaway_redis.port}/0 did not answer")
		assert redis_fitness.headline(summary) == "Redis did not answer"
		lines = install.report_redis_fitness(lambda line: None)
		assert "did not answer" in lines[0]  # said, and the migrate carries on


def test_a_cluster_is_checked_on_every_primary_and_names_the_bad_one(monkeypatch):
	cluster = ThrowawayRedisCluster(primaries=3)
	cluster.start()
	try:
		monkeypatch.setenv("MEMORA_REDIS_URL", cluster.url)
		primaries = sorted(cluster.primaries())
		bad = primaries[1]
		with redis.Redis(port=bad, decode_responses=True) as node_client:
			limit(node_client, "allkeys-lru")

		summary = redis_fitness.check()
		assert sorted(n["node"] for n in summary["nodes"]) == sorted(f"127.0.0.1:{p}" for p in primaries)
		assert summary["safe"] is False
		[problem] = summary["problems"]
		assert problem.startswith(f"Redis 127.0.0.1:{bad} evicts any key")
		assert {n["node"]: n["can_evict"] for n in summary["nodes"]} == {
			f"127.0.0.1:{p}": p == bad for p in primaries
		}
		text = metrics_report.prometheus_text()
		assert f'memora_redis_maxmemory_policy{{node="127.0.0.1:{bad}",policy="allkeys-lru"}} 1' in text
		assert text.count("memora_redis_maxmemory_bytes{") == 3
	finally:
		cluster.stop()


# --- the verdict from the figures alone ---------------------------------------------------------------


def figures(policy: str | None, maxmemory: int = TEN_MB, evicted: int = 0) -> NodeMemory:
	return NodeMemory("n:1", policy, maxmemory, 1024, evicted)


@pytest.mark.unit
def test_a_policy_redis_does_not_report_is_unknown_unless_there_is_no_limit():
	unknown = redis_fitness.assess([figures(None)])
	assert unknown["safe"] is None and "does not report its maxmemory-policy" in unknown["problems"][0]
	assert redis_fitness.headline(unknown) == "Policy unknown"
	assert redis_fitness.assess([figures(None, maxmemory=0)])["safe"] is True
	# One node that can evict outweighs another that cannot be told.
	assert redis_fitness.assess([figures(None), figures("allkeys-lfu")])["safe"] is False


@pytest.mark.unit
def test_a_policy_memora_does_not_know_is_taken_as_evicting():
	summary = redis_fitness.assess([figures("allkeys-newfangled-2030"), figures("someday-lru")])
	assert summary["safe"] is False
	assert "evicts any key" in summary["problems"][0]
	assert "which Memora does not know" in summary["problems"][1]


@pytest.mark.unit
def test_no_answer_from_any_node_is_unknown():
	assert redis_fitness.assess([])["safe"] is None
	assert redis_fitness.node_memory("n:1", {"maxmemory": 0}, {}).policy is None
