"""Safe mode's circuit breaker: once Redis fails, stop asking it until a probe interval has passed.

A call that fails with a connection error or a timeout opens the breaker; while it is open, callers
go straight to MariaDB instead of waiting on a dead socket. After `safe_mode_probe_interval` seconds
the next caller tries Redis again: success closes the breaker, failure keeps it open for another
interval. State is per process and per Redis server. Whoever counts trips (the metrics) registers
with `on_trip`: the breaker sits beside the runtime and knows nothing above it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

import redis
from redis.cluster import RedisCluster

from memora.exceptions import MemoraError
from memora.runtime.config import settings
from memora.runtime.kv import cluster_url
from memora.runtime.logs import log

# What a Redis outage looks like: a dead or slow server, or a cluster with a slot unserved (a primary
# failed and no replica has taken over yet). The cluster client raises RedisClusterException when it
# cannot reach any node to read the slot map again.
REDIS_ERRORS = (
	redis.exceptions.ConnectionError,
	redis.exceptions.TimeoutError,
	redis.exceptions.ClusterDownError,
	redis.exceptions.ClusterError,
	redis.exceptions.MasterDownError,
	redis.exceptions.TryAgainError,
	redis.exceptions.SlotNotCoveredError,
	redis.exceptions.RedisClusterException,
)


class RedisUnavailable(MemoraError):
	"""Redis is down, too slow, or the breaker is open: use the MariaDB path."""


_trip_callbacks: list[Callable[[str], None]] = []


def on_trip(callback: Callable[[str], None]) -> None:
	"""Call `callback(server_name)` each time a closed breaker opens."""
	if callback not in _trip_callbacks:
		_trip_callbacks.append(callback)


class CircuitBreaker:
	def __init__(self, name: str) -> None:
		self.name = name
		self._open_until = 0.0  # monotonic time; 0 while closed
		self._lock = threading.Lock()

	@property
	def is_open(self) -> bool:
		"""Tripped and not yet recovered (including while a probe is due)."""
		return self._open_until > 0

	def allows(self) -> bool:
		"""True while closed, and once the probe interval has passed."""
		return time.monotonic() >= self._open_until

	def failed(self, error: BaseException) -> None:
		with self._lock:
			was_closed = not self._open_until
			self._open_until = time.monotonic() + max(settings().safe_mode_probe_interval, 0)
		if was_closed:
			for callback in _trip_callbacks:
				callback(self.name)
			log("srs.safe_mode.entered", logging.WARNING, redis=self.name, error=repr(error))

	def succeeded(self) -> None:
		if not self._open_until:  # the hot path: no lock while closed
			return
		with self._lock:
			self._open_until = 0.0
		log("srs.safe_mode.left", redis=self.name)


_breakers: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def for_client(client: redis.Redis | RedisCluster) -> CircuitBreaker:
	"""The process-wide breaker for the Redis server `client` talks to. Found from the client's own
	connection settings: looking the URL up again would read the settings on every request."""
	name = server_name(client)
	breaker = _breakers.get(name)
	if breaker is None:
		with _registry_lock:
			breaker = _breakers.setdefault(name, CircuitBreaker(name))
	return breaker


def server_name(client: redis.Redis | RedisCluster) -> str:
	"""The server and database a client uses, without credentials, fit for a log line. A cluster is
	named by the node its URL names: one breaker for the cluster, whichever node fails."""
	if isinstance(client, RedisCluster):
		url = urlparse(cluster_url(client))
		return f"redis-cluster://{url.hostname}:{url.port or 6379}"
	kwargs = client.connection_pool.connection_kwargs
	if "path" in kwargs:
		return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
	return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
