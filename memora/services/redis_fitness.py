"""Whether Memora's data Redis can evict SRS data, or already has: every primary's `maxmemory-policy`,
`maxmemory` and `evicted_keys`, and one plain sentence per problem.

Why: the review queues and the pending-review hashes are data, not cache, yet by default they live in
bench's `redis_cache`, which bench configures as a cache (`maxmemory` of a few percent of RAM and
`allkeys-lru`). A queue that goes is rebuilt from MariaDB on its next use (a load spike), but a pending
hash holds answers accepted and not yet in MariaDB. Every SRS key carries a TTL (the queues
`srs_cache_ttl_days`, the pending hashes `PENDING_TTL`), so the `volatile-*` policies can evict them as
well: only `noeviction`, or no `maxmemory` at all, keeps them.

Everything comes from `INFO memory` (`maxmemory`, `maxmemory_policy`, Redis 4 and later) and `INFO stats`
(`evicted_keys`), so a managed Redis that renames or refuses `CONFIG` is read the same way. On a Redis
Cluster each primary is asked: a policy set on one node only is a problem of that node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import redis
from redis.cluster import RedisCluster

from memora import runtime
from memora.runtime.breaker import REDIS_ERRORS, for_client, server_name
from memora.services.srs.pending import PENDING_TTL

NO_EVICTION = "noeviction"


@dataclass(frozen=True)
class NodeMemory:
	"""What one primary says about its memory: `policy` None when INFO does not tell it (Redis < 4),
	`maxmemory` 0 for no limit, `evicted_keys` since its start or last CONFIG RESETSTAT."""

	node: str
	policy: str | None
	maxmemory: int
	used_memory: int
	evicted_keys: int

	@property
	def can_evict(self) -> bool | None:
		"""Whether the node may drop Memora's keys under memory pressure; None when it cannot be told.
		Without a `maxmemory` Redis never evicts, whatever the policy."""
		if self.maxmemory == 0:
			return False
		if self.policy is None:
			return None
		return self.policy != NO_EVICTION

	def as_dict(self) -> dict:
		return {**asdict(self), "can_evict": self.can_evict}


def node_memory(node: str, memory: dict, stats: dict) -> NodeMemory:
	"""A node's figures from its parsed `INFO memory` and `INFO stats`."""
	policy = memory.get("maxmemory_policy")
	return NodeMemory(
		node=node,
		policy=str(policy) if policy is not None else None,
		maxmemory=int(memory.get("maxmemory") or 0),
		used_memory=int(memory.get("used_memory") or 0),
		evicted_keys=int(stats.get("evicted_keys") or 0),
	)


def _plain_name(client: redis.Redis) -> str:
	kwargs = client.connection_pool.connection_kwargs
	if "path" in kwargs:
		return f"unix://{kwargs['path']}"
	return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _primaries(client: redis.Redis | RedisCluster) -> list[tuple[str, redis.Redis]]:
	"""(name, plain client) of every node holding data: each primary of a cluster, or the one server."""
	if runtime.is_cluster(client):
		return [(node.name, client.get_redis_connection(node)) for node in client.get_primaries()]
	return [(_plain_name(client), client)]


def read_nodes(client: redis.Redis | RedisCluster) -> list[NodeMemory]:
	"""Every primary's figures, sorted by node name; raises redis errors when one does not answer."""
	found = []
	for name, node_client in _primaries(client):
		pipe = node_client.pipeline(transaction=False)
		pipe.info("memory")
		pipe.info("stats")
		memory, stats = pipe.execute()
		found.append(node_memory(name, memory, stats))
	return sorted(found, key=lambda n: n.node)


def _size(n: int) -> str:
	return f"{n / 1024**2:,.1f} MB"


def node_problems(node: NodeMemory) -> list[str]:
	"""One plain sentence per thing wrong with `node`: it can evict Memora's data, or it has evicted keys."""
	problems = []
	if node.can_evict is None:
		problems.append(
			f"Redis {node.node} has a maxmemory of {_size(node.maxmemory)} but does not report its "
			"maxmemory-policy in INFO (Redis older than 4?), so whether it can evict Memora's review "
			"queues and pending reviews is unknown; check it by hand."
		)
	elif node.can_evict:
		limit = f"maxmemory-policy {node.policy}, maxmemory {_size(node.maxmemory)}"
		used = f"{_size(node.used_memory)} used"
		if node.policy.startswith("allkeys-"):
			problems.append(
				f"Redis {node.node} evicts any key when it is full ({limit}, {used}): Memora's review "
				"queues (rebuilt from MariaDB on their next use) and pending reviews (answers accepted "
				"but not yet in MariaDB) can be evicted."
			)
		elif node.policy.startswith("volatile-"):
			problems.append(
				f"Redis {node.node} evicts keys that carry a TTL when it is full ({limit}, {used}): every "
				"Memora SRS key carries one, the review queues (srs_cache_ttl_days) and the pending-review "
				f"hashes ({PENDING_TTL // 86400} days) included, so queues (rebuilt from MariaDB on their "
				"next use) and pending reviews (answers accepted but not yet in MariaDB) can be evicted."
			)
		else:
			problems.append(
				f"Redis {node.node} uses maxmemory-policy {node.policy!r}, which Memora does not know "
				f"({_size(node.maxmemory)} maxmemory, {used}): Memora's review queues and pending reviews "
				"may be evicted."
			)
	if node.evicted_keys:
		problems.append(
			f"Redis {node.node} has evicted {node.evicted_keys:,} keys since it started or its statistics "
			"were reset (CONFIG RESETSTAT); Memora's review queues or pending reviews may be among them."
		)
	return problems


def assess(nodes: Sequence[NodeMemory]) -> dict:
	"""The summary of `nodes`: `safe` True when no primary can evict Memora's data, False when one can,
	None when that cannot be told; `evicted_keys` summed over the primaries (keys that went already,
	whatever the policy is now); `problems`, one sentence each."""
	verdicts = [node.can_evict for node in nodes]
	if any(verdicts):
		safe = False
	elif not nodes or None in verdicts:
		safe = None
	else:
		safe = True
	return {
		"safe": safe,
		"evicted_keys": sum(node.evicted_keys for node in nodes),
		"nodes": [node.as_dict() for node in nodes],
		"problems": [problem for node in nodes for problem in node_problems(node)],
	}


def unanswered(server: str, reason: str) -> dict:
	"""The summary when Redis cannot be read: unknown, one sentence saying so (safe mode deals with the
	outage itself)."""
	return {
		"safe": None,
		"evicted_keys": None,
		"nodes": [],
		"problems": [
			f"Redis {server} did not answer ({reason}), so whether it can evict Memora's data is unknown."
		],
	}


def check(client: redis.Redis | RedisCluster | None = None) -> dict:
	"""Whether Memora's data Redis can evict SRS data, or has: {safe, evicted_keys, nodes, problems}
	(see `assess`). Never raises for Redis: a Redis that does not answer, or whose breaker is open, gives
	`safe` None and one problem, without waiting on it again."""
	client = runtime.redis_client() if client is None else client
	breaker = for_client(client)
	if not breaker.allows():
		return unanswered(server_name(client), "safe mode: it failed moments ago")
	try:
		nodes = read_nodes(client)
	except REDIS_ERRORS as exc:
		breaker.failed(exc)
		return unanswered(server_name(client), str(exc) or type(exc).__name__)
	except redis.RedisError as exc:  # INFO refused, e.g. by an ACL
		return unanswered(server_name(client), str(exc) or type(exc).__name__)
	return assess(nodes)


def headline(summary: dict) -> str:
	"""The summary in a few words, for a Desk number card: the worst of evicted, can evict, unknown."""
	if not summary["nodes"]:
		return "Redis did not answer"
	if summary["evicted_keys"]:
		return f"Evicted {summary['evicted_keys']:,} keys"
	if summary["safe"] is False:
		return "Can evict SRS data"
	if summary["safe"] is None:
		return "Policy unknown"
	return "Safe"
