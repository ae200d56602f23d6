"""Memora's data Redis: its URL, the per-site key namespace, and a client with short timeouts.

The URL may name any node of a Redis Cluster: Memora asks the node (`INFO cluster`) once per process
and then uses redis-py's cluster client, which routes each key to the primary owning its slot. Every
multi-key command, transaction and script of Memora touches one hash tag (docs/scaling.md), so it runs
on one node either way. A plain Redis keeps the plain client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from memora.runtime.config import Settings, settings
from memora.runtime.database import database_name
from memora.runtime.site import frappe_module, in_site


def redis_url(current: Settings | None = None) -> str:
	"""Memora Settings' override, else the site config's `memora_redis_url` (a site's or the bench's
	common_site_config.json), else the site's redis_cache; outside a site MEMORA_REDIS_URL."""
	override = (current or settings()).redis_url
	if override:
		return override
	if in_site():
		conf = frappe_module().conf
		return conf.get("memora_redis_url") or conf.redis_cache
	return os.environ.get("MEMORA_REDIS_URL", "redis://127.0.0.1:6379/0")


def key_prefix() -> str:
	"""Per-site namespace, the same one `frappe.cache.make_key` applies (sorted-set commands are not
	auto-prefixed by Frappe's wrapper, so Memora prefixes every key itself)."""
	if in_site():
		return frappe_module().cache.make_key("").decode()
	return f"{database_name()}|"


def key(*parts: str) -> str:
	return key_prefix() + ":".join(parts)


Client = redis.Redis | RedisCluster
_clients: dict[tuple[str, int, bool], Client] = {}
_clients_lock = threading.Lock()


@cache
def plain_client(url: str, timeout_ms: int, decode: bool) -> redis.Redis:
	return redis.Redis.from_url(
		url,
		decode_responses=decode,
		socket_timeout=timeout_ms / 1000,
		socket_connect_timeout=timeout_ms / 1000,
		health_check_interval=30,
	)


def is_cluster_node(url: str, timeout_ms: int) -> bool:
	"""Whether `url` names a node of a Redis Cluster; raises redis errors when it does not answer."""
	probe = redis.Redis.from_url(
		url, socket_timeout=timeout_ms / 1000, socket_connect_timeout=timeout_ms / 1000
	)
	try:
		return bool(probe.info("cluster").get("cluster_enabled"))
	finally:
		probe.close()


def cached_client(url: str, timeout_ms: int, decode: bool) -> Client:
	"""The process's client for `url`: a cluster client when the URL names a cluster node. Asked once;
	while the server does not answer (or a cluster cannot tell its slot map) the plain client is
	returned uncached, so its commands fail into safe mode like any outage and the next call asks
	again."""
	found = _clients.get((url, timeout_ms, decode))
	if found is not None:
		return found
	try:
		cluster = is_cluster_node(url, timeout_ms)
		with _clients_lock:
			if (url, timeout_ms, decode) not in _clients:
				_clients[url, timeout_ms, decode] = (
					cluster_client(url, timeout_ms, decode)
					if cluster
					else plain_client(url, timeout_ms, decode)
				)
			return _clients[url, timeout_ms, decode]
	except (redis.RedisError, RedisClusterException):
		return plain_client(url, timeout_ms, decode)


_cluster_urls: dict[int, str] = {}


def cluster_client(url: str, timeout_ms: int, decode: bool) -> RedisCluster:
	client = RedisCluster.from_url(
		url,
		decode_responses=decode,
		socket_timeout=timeout_ms / 1000,
		socket_connect_timeout=timeout_ms / 1000,
	)
	_cluster_urls[id(client)] = url
	return client


def cluster_url(client: RedisCluster) -> str:
	"""The URL a cluster client was made from: its startup nodes change as it learns the slot map."""
	return _cluster_urls[id(client)]


def is_cluster(client: Client) -> bool:
	return isinstance(client, RedisCluster)


def node_client(client: Client, key: str) -> redis.Redis:
	"""A plain client on the node that owns `key`'s slot, for what the cluster client cannot route:
	WATCH, MULTI/EXEC. The plain client itself on a plain Redis."""
	if not is_cluster(client):
		return client
	return client.get_redis_connection(client.get_node_from_key(key))


# What a command sent through `node_client` meets when its slot moved (resharding, failover): read the
# slot map again and retry.
CLUSTER_REROUTES = (
	redis.exceptions.MovedError,
	redis.exceptions.AskError,
	redis.exceptions.TryAgainError,
)


def refresh_routing(client: Client) -> None:
	"""After a MOVED or a failover seen through `node_client`: read the slot map again."""
	if is_cluster(client):
		client.nodes_manager.initialize()


def run_script(client: Any, script: str, keys: Sequence[str], *args: Any) -> Any:
	"""EVAL `script` on a client, or queue it on a pipeline, a cluster's included: the cluster pipeline's
	`eval` method refuses, while the command itself is routed by its keys' slot like any other."""
	return client.execute_command("EVAL", script, len(keys), *keys, *args)


def transaction(client: Client, key: str) -> redis.client.Pipeline:
	"""A MULTI/EXEC pipeline for keys sharing `key`'s hash tag, on the node that owns the slot."""
	return node_client(client, key).pipeline(transaction=True)


def redis_client(current: Settings | None = None) -> Client:
	"""Client for Memora's data (strings decoded) with short timeouts, so a stuck Redis is noticed fast.
	`current` saves reading the settings again when the caller holds them."""
	current = current or settings()
	return cached_client(redis_url(current), current.redis_socket_timeout_ms, True)
