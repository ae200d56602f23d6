"""The Redis Cluster harness itself: a real cluster starts, spreads keys over its primaries, a replica
takes over when a primary is killed, keeping what was replicated to it, and a proxied cluster can cut
one node off from its clients and let it back."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError

from tests.harness.redis_cluster import HOST, ThrowawayRedisCluster

FAILOVER_TIMEOUT = 60
# What a client meets on a partitioned node: the proxy resets the connection, so no timeout is waited.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, ClusterDownError)


@pytest.fixture
def cluster():
	with ThrowawayRedisCluster(primaries=3) as started:
		yield started


@pytest.fixture
def replicated_cluster():
	with ThrowawayRedisCluster(primaries=3, replicas_per_primary=1) as started:
		yield started


@pytest.fixture
def proxied_cluster():
	with ThrowawayRedisCluster(primaries=3, proxied=True) as started:
		yield started


def cluster_client(cluster: ThrowawayRedisCluster) -> RedisCluster:
	"""A fresh cluster client that starts from the live nodes (the first node may be the dead one)."""
	nodes = [ClusterNode(HOST, port) for port in cluster.live_ports()]
	return RedisCluster(startup_nodes=nodes, decode_responses=True)


def test_keys_spread_over_all_three_primaries(cluster):
	primaries = cluster.primaries()
	assert len(primaries) == 3
	assert cluster.replicas() == []
	client = RedisCluster.from_url(cluster.url, decode_responses=True)
	try:
		owners = {}
		for number in range(30):
			key = f"harness:{number}"
			client.set(key, str(number))
			owners[key] = cluster.primary_for_key(key)
		assert set(owners.values()) == set(primaries)
		for key, port in owners.items():
			assert client.get(key) == key.split(":")[1]
			# The key really lives on the primary the harness names: that node answers GET itself.
			with redis.Redis(host=HOST, port=port, decode_responses=True) as node:
				assert node.get(key) == key.split(":")[1]
	finally:
		client.close()


@pytest.mark.fault
@pytest.mark.slow
def test_replica_takes_over_a_killed_primary_with_its_data(replicated_cluster):
	cluster = replicated_cluster
	assert len(cluster.primaries()) == 3
	assert len(cluster.replicas()) == 3
	key = "harness:survivor"
	old_primary = cluster.primary_for_key(key)
	client = RedisCluster.from_url(cluster.url, decode_responses=True)
	try:
		client.set(key, "kept")
	finally:
		client.close()
	with redis.Redis(host=HOST, port=old_primary) as node:
		assert node.execute_command("WAIT", 1, 1000) == 1

	cluster.kill(old_primary)
	new_primary = cluster.wait_for_failover(old_primary, timeout=FAILOVER_TIMEOUT)

	assert new_primary != old_primary
	assert cluster.primary_for_key(key) == new_primary
	assert new_primary in cluster.primaries()
	assert old_primary not in cluster.primaries()
	fresh = cluster_client(cluster)
	try:
		assert fresh.get(key) == "kept"
	finally:
		fresh.close()

	# The killed node comes back as a replica of the node that took its place.
	cluster.restart(old_primary)
	cluster.wait_ok(timeout=FAILOVER_TIMEOUT)
	assert old_primary in cluster.replicas()
	assert cluster.primary_for_key(key) == new_primary


def keys_by_primary(cluster: ThrowawayRedisCluster) -> dict[int, str]:
	"""One key per primary (real port), found by the harness's slot map."""
	found: dict[int, str] = {}
	number = 0
	while len(found) < len(cluster.primaries()):
		key = f"harness:proxied:{number}"
		found.setdefault(cluster.primary_for_key(key), key)
		number += 1
	return found


@pytest.mark.fault
def test_a_partitioned_node_is_cut_off_from_clients_until_healed(proxied_cluster):
	cluster = proxied_cluster
	primaries = cluster.primaries()
	assert sorted(primaries) == sorted(cluster.ports), "the harness speaks of real ports, not proxies"
	owners = keys_by_primary(cluster)
	client = RedisCluster.from_url(
		cluster.url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
	)
	try:
		# The client knows the nodes only by their proxies' addresses.
		assert {node.port for node in client.get_nodes()} == {cluster.proxy_port(p) for p in cluster.ports}
		for key in owners.values():
			client.set(key, "before")
		victim = primaries[0]
		cluster.partition(victim)

		with pytest.raises(UNREACHABLE):
			client.get(owners[victim])
		for port, key in owners.items():
			if port != victim:
				assert client.get(key) == "before"
		# Only clients are cut off: the node itself still serves its slots, and no failover began.
		with redis.Redis(host=HOST, port=victim, decode_responses=True) as node:
			assert node.get(owners[victim]) == "before"
		assert cluster.primaries() == primaries

		cluster.heal(victim)
		client.set(owners[victim], "after")
		assert client.get(owners[victim]) == "after"
		cluster.wait_ok(timeout=FAILOVER_TIMEOUT)
		assert cluster.primary_for_key(owners[victim]) == victim
	finally:
		client.close()
