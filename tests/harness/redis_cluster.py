"""A throwaway Redis Cluster of real redis-server processes on free loopback ports, for tests that kill
a primary and need a replica to take over, or cut a node off from its clients (the machine's own Redis
is never touched)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from tests.harness.net import free_port
from tests.harness.proxy import CuttableProxy

T = TypeVar("T")

HOST = "127.0.0.1"
# The machine's shared Redis and its would-be cluster bus port: never ours, even if the OS offers them.
RESERVED_PORTS = frozenset({6379, 16379})
POLL_INTERVAL = 0.05


@dataclass
class NodeView:
	"""One line of CLUSTER NODES: how one node sees another (or itself)."""

	node_id: str
	port: int
	flags: frozenset[str]
	primary_id: str | None
	slots: frozenset[int]

	@property
	def is_primary(self) -> bool:
		return "master" in self.flags

	@property
	def is_replica(self) -> bool:
		return "slave" in self.flags

	@property
	def suspect(self) -> bool:
		"""Failed, suspected failed, or not yet (or no longer) properly known."""
		return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})


@dataclass
class _Node:
	port: int
	bus_port: int
	directory: Path | None = None
	process: subprocess.Popen | None = None
	# In a proxied cluster, what clients reach the node through (and the port the node announces).
	proxy: CuttableProxy | None = None

	@property
	def running(self) -> bool:
		return self.process is not None and self.process.poll() is None

	@property
	def log(self) -> Path | None:
		return self.directory / "redis.log" if self.directory else None


class NodeExited(RuntimeError):
	"""A node's process ended while we waited for it to answer."""


def parse_cluster_nodes(text: str) -> list[NodeView]:
	"""CLUSTER NODES as data; slots being imported or migrated (`[slot->-id]`) are left out."""
	views = []
	for line in text.splitlines():
		fields = line.split()
		if len(fields) < 8:
			continue
		address = fields[1].split("@", 1)[0].split(",", 1)[0]
		port_text = address.rsplit(":", 1)[-1]
		slots: set[int] = set()
		for token in fields[8:]:
			if token.startswith("["):
				continue
			start, _, end = token.partition("-")
			slots.update(range(int(start), int(end or start) + 1))
		views.append(
			NodeView(
				node_id=fields[0],
				port=int(port_text) if port_text.isdigit() else 0,
				flags=frozenset(fields[2].split(",")),
				primary_id=None if fields[3] == "-" else fields[3],
				slots=frozenset(slots),
			)
		)
	return views


def parse_info(text: str) -> dict[str, str]:
	"""CLUSTER INFO's `key:value` lines as a dict of strings."""
	info = {}
	for line in text.splitlines():
		key, sep, value = line.partition(":")
		if sep and not key.startswith("#"):
			info[key.strip()] = value.strip()
	return info


class ThrowawayRedisCluster:
	"""`primaries` primaries with `replicas_per_primary` replicas each, one redis-server per node.

	Failover is tuned to be quick and unconditional: a short node timeout, and a replica may take over
	however long it was cut off from its primary (validity factor 0). Replicas do not migrate between
	primaries on their own, so the topology only changes through failover.

	`proxied` puts a CuttableProxy in front of every node, and each node announces its proxy's port
	(CLUSTER SLOTS, CLUSTER NODES, MOVED), so a cluster client started from `url` only ever reaches the
	nodes through the proxies and partition() can cut one node off from its clients. The cluster bus
	port is announced as is: the nodes keep talking to each other directly, so a partitioned node is
	neither failed nor replaced. Replication follows the announced address, so a partitioned primary's
	replicas lose their link to it too.

	Ports: `ports`, `live_ports()`, primaries(), replicas(), primary_for_slot/key(), wait_for_failover()
	and the port every method takes are the nodes' REAL ports, proxied or not (the harness's own admin
	commands and a test's direct node clients use them); only `url`, `node_urls` and proxy_port() give
	the proxies' addresses."""

	def __init__(
		self,
		primaries: int = 3,
		replicas_per_primary: int = 0,
		node_timeout_ms: int = 1000,
		proxied: bool = False,
	) -> None:
		if primaries < 3:
			raise ValueError("redis-cli --cluster create needs at least 3 primaries")
		if replicas_per_primary < 0:
			raise ValueError("replicas_per_primary cannot be negative")
		self.server_binary = shutil.which("redis-server")
		self.cli_binary = shutil.which("redis-cli")
		if not self.server_binary or not self.cli_binary:
			raise RuntimeError(
				"redis-server and redis-cli must be installed to start a throwaway Redis Cluster"
			)
		self.primary_count = primaries
		self.replicas_per_primary = replicas_per_primary
		self.node_timeout_ms = node_timeout_ms
		self.proxied = proxied
		self._taken: set[int] = set()
		self._nodes = [_Node(*self._allocate_ports()) for _ in range(primaries * (1 + replicas_per_primary))]
		# Slots each node served when kill() stopped it: what wait_for_failover() waits to see taken over.
		self._killed_slots: dict[int, frozenset[int]] = {}

	# --- addresses ---

	@property
	def ports(self) -> list[int]:
		"""The nodes' real ports."""
		return [node.port for node in self._nodes]

	@property
	def url(self) -> str:
		"""The first node's URL for clients (a cluster client discovers the rest), through its proxy in a
		proxied cluster; it may be a node a test killed or partitioned."""
		return f"redis://{HOST}:{self._client_port(self._nodes[0])}/0"

	@property
	def node_urls(self) -> list[str]:
		"""Every node's URL for clients, through the proxies in a proxied cluster."""
		return [f"redis://{HOST}:{self._client_port(node)}/0" for node in self._nodes]

	def node_url(self, port: int) -> str:
		"""The URL for clients of the node whose real port is `port` (through its proxy if proxied)."""
		return f"redis://{HOST}:{self._client_port(self._node(port))}/0"

	def proxy_port(self, port: int) -> int:
		"""The port of the proxy in front of the node whose real port is `port`."""
		node = self._node(port)
		if node.proxy is None:
			raise RuntimeError("only a started cluster with proxied=True has proxies")
		return node.proxy.port

	def live_ports(self) -> list[int]:
		"""Ports of the nodes whose process is running (killed ones are left out until restarted)."""
		return [node.port for node in self._nodes if node.running]

	# --- lifecycle ---

	def start(self, timeout: float = 60.0) -> None:
		"""Start every node, join them into one cluster and wait until it is settled (see wait_ok)."""
		try:
			for node in self._nodes:
				if node.directory is None:
					node.directory = Path(tempfile.mkdtemp(prefix=f"memora-redis-cluster-{node.port}-"))
				if self.proxied and node.proxy is None:
					self._open_proxy(node)
				self._spawn(node)
			deadline = time.monotonic() + timeout
			for node in self._nodes:
				self._wait_answers(node, deadline, retry_bind=True)
			self._create_cluster(max(deadline - time.monotonic(), 1.0))
			self.wait_ok(max(deadline - time.monotonic(), 1.0))
		except BaseException:
			self.stop()
			raise

	def stop(self) -> None:
		"""Terminate every node (SIGKILL if one lingers), close the proxies and remove the nodes'
		directories; safe to repeat."""
		for node in self._nodes:
			if node.running:
				node.process.terminate()
		for node in self._nodes:
			if node.process is not None:
				try:
					node.process.wait(timeout=10)
				except subprocess.TimeoutExpired:
					node.process.kill()
					node.process.wait(timeout=10)
				node.process = None
			if node.directory is not None:
				shutil.rmtree(node.directory, ignore_errors=True)
				node.directory = None
			if node.proxy is not None:
				node.proxy.close()
				node.proxy = None
		self._killed_slots.clear()

	def __enter__(self) -> ThrowawayRedisCluster:
		self.start()
		return self

	def __exit__(self, *exc_info: object) -> None:
		self.stop()

	# --- faults ---

	def kill(self, port: int) -> None:
		"""SIGKILL one node: a crash, with no chance to hand anything over. The slots it served are
		remembered for wait_for_failover()."""
		node = self._node(port)
		if not node.running:
			return
		try:
			view = self._view()
			self._killed_slots[port] = next((v.slots for v in view if v.port == port), frozenset())
		except (redis.RedisError, RuntimeError):
			self._killed_slots[port] = frozenset()
		node.process.kill()
		node.process.wait(timeout=10)

	def partition(self, port: int) -> None:
		"""Cut the node off from its clients, not from the cluster: its proxy drops every connection and
		refuses new ones (a client sees a connection error at once, not a timeout) until heal(). The
		other nodes still see it alive over the bus, so its slots stay its own and no failover happens."""
		self._proxy(port).cut()

	def heal(self, port: int) -> None:
		"""End partition(): the node's proxy takes connections again."""
		self._proxy(port).restore()

	def restart(self, port: int, timeout: float = 60.0) -> None:
		"""Start a killed node again from its own directory and nodes-<port>.conf, so it rejoins the
		cluster as the node it was (a former primary comes back as a replica of its successor). Returns
		once it answers; wait_ok() waits for the cluster to settle around it."""
		node = self._node(port)
		if node.running:
			raise RuntimeError(f"redis cluster node {port} is still running")
		if node.directory is None:
			raise RuntimeError("the cluster was stopped; start() it again instead")
		self._spawn(node)
		self._wait_answers(node, time.monotonic() + timeout, retry_bind=False)

	def wait_for_failover(self, dead_port: int, timeout: float = 60.0) -> int:
		"""Wait until every live node reports cluster_state:ok and agrees that one live node, a promoted
		replica, now serves all the slots `dead_port` served when kill() stopped it; return its port."""
		slots = self._killed_slots.get(dead_port)
		if slots is None:
			raise ValueError(f"node {dead_port} was not stopped with kill()")
		if not slots:
			raise ValueError(f"node {dead_port} served no slots when it was killed: nothing fails over")

		def successor() -> int | None:
			live = self.live_ports()
			agreed: set[int] = set()
			for port in live:
				if self._cluster_info(port).get("cluster_state") != "ok":
					return None
				owners = [v for v in self._nodes_view(port) if v.is_primary and v.slots & slots]
				if len(owners) != 1 or not slots <= owners[0].slots:
					return None
				agreed.add(owners[0].port)
			if len(agreed) != 1:
				return None
			new_primary = agreed.pop()
			return new_primary if new_primary != dead_port and new_primary in live else None

		return self._wait_until(successor, timeout, f"a replica to take over from killed primary {dead_port}")

	def wait_ok(self, timeout: float = 60.0) -> None:
		"""Wait until the cluster has settled: every live node reports cluster_state:ok with all 16384
		slots assigned, knows every node, sees no live node as failed, agrees with the others on who
		serves which slot, and (if a replica) has its link to its primary up."""
		all_ports = set(self.ports)

		def settled() -> bool:
			live = self.live_ports()
			slot_maps = set()
			for port in live:
				info = self._cluster_info(port)
				if info.get("cluster_state") != "ok":
					return False
				if int(info.get("cluster_slots_assigned", 0)) != REDIS_CLUSTER_HASH_SLOTS:
					return False
				view = self._nodes_view(port)
				if {v.port for v in view} != all_ports:
					return False
				if any(v.suspect for v in view if v.port in live):
					return False
				slot_maps.add(frozenset((v.port, v.slots) for v in view if v.is_primary and v.slots))
				myself = next(v for v in view if "myself" in v.flags)
				if myself.is_replica and self._info(port, "replication").get("master_link_status") != "up":
					return False
			return len(slot_maps) == 1

		self._wait_until(settled, timeout, "the redis cluster to settle")

	# --- topology ---

	def primaries(self) -> list[int]:
		"""Ports of the nodes serving slots, as a live node sees the cluster: a killed primary stays in
		the list until a replica has taken over its slots."""
		return [v.port for v in self._view() if v.is_primary and v.slots]

	def replicas(self) -> list[int]:
		"""Ports of the nodes the cluster knows as replicas (a killed one included)."""
		return [v.port for v in self._view() if v.is_replica]

	def primary_for_slot(self, slot: int) -> int:
		"""The real port of the primary serving `slot`, as a live node sees the cluster."""
		if not 0 <= slot < REDIS_CLUSTER_HASH_SLOTS:
			raise ValueError(f"slot {slot} is outside 0..{REDIS_CLUSTER_HASH_SLOTS - 1}")
		for view in self._view():
			if view.is_primary and slot in view.slots:
				return view.port
		raise LookupError(f"no primary serves slot {slot}")

	def primary_for_key(self, key: str | bytes) -> int:
		return self.primary_for_slot(key_slot(key.encode() if isinstance(key, str) else key))

	# --- internals ---

	def _allocate_ports(self) -> tuple[int, int]:
		"""A client port and a cluster bus port, distinct from every port this cluster has used. The bus
		port is set explicitly: the default (port + 10000) may be taken, or above 65535."""
		ports = []
		while len(ports) < 2:
			port = free_port()
			if port not in self._taken and port not in RESERVED_PORTS:
				self._taken.add(port)
				ports.append(port)
		return ports[0], ports[1]

	def _node(self, port: int) -> _Node:
		for node in self._nodes:
			if node.port == port:
				return node
		raise KeyError(f"port {port} is not a node of this cluster")

	def _proxy(self, port: int) -> CuttableProxy:
		proxy = self._node(port).proxy
		if proxy is None:
			raise RuntimeError("partition() and heal() need a started cluster with proxied=True")
		return proxy

	def _client_port(self, node: _Node) -> int:
		return node.proxy.port if node.proxy is not None else node.port

	def _real_port(self, announced: int) -> int:
		"""A node's real port from the port CLUSTER NODES shows, which is its proxy's when proxied."""
		for node in self._nodes:
			if node.proxy is not None and node.proxy.port == announced:
				return node.port
		return announced

	def _open_proxy(self, node: _Node) -> None:
		"""A proxy in front of the node, on a port no node of this cluster has been given: the nodes'
		ports are picked before they are bound, so the OS might offer one of them to the proxy."""
		rejected = []
		try:
			while True:
				proxy = CuttableProxy(HOST, node.port)
				if proxy.port not in self._taken and proxy.port not in RESERVED_PORTS:
					break
				rejected.append(proxy)
		finally:
			for other in rejected:
				other.close()
		self._taken.add(proxy.port)
		node.proxy = proxy

	def _spawn(self, node: _Node) -> None:
		node.process = subprocess.Popen(
			[
				self.server_binary,
				"--port",
				str(node.port),
				"--bind",
				HOST,
				"--protected-mode",
				"no",
				"--cluster-enabled",
				"yes",
				"--cluster-port",
				str(node.bus_port),
				*self._announce_options(node),
				"--cluster-config-file",
				f"nodes-{node.port}.conf",
				"--cluster-node-timeout",
				str(self.node_timeout_ms),
				"--cluster-replica-validity-factor",
				"0",
				"--cluster-allow-replica-migration",
				"no",
				"--cluster-allow-reads-when-down",
				"no",
				"--cluster-require-full-coverage",
				"yes",
				# A replica's full sync starts at once, not after the default 5 s wait for more replicas.
				"--repl-diskless-sync-delay",
				"0",
				"--save",
				"",
				"--appendonly",
				"no",
				"--dir",
				str(node.directory),
				"--logfile",
				str(node.log),
			],
			stdin=subprocess.DEVNULL,
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)

	def _announce_options(self, node: _Node) -> list[str]:
		"""Behind a proxy, clients are told the proxy's port; the bus port stays the node's own, so the
		nodes' gossip and failure detection never pass through a proxy."""
		if node.proxy is None:
			return []
		return [
			"--cluster-announce-ip",
			HOST,
			"--cluster-announce-port",
			str(node.proxy.port),
			"--cluster-announce-bus-port",
			str(node.bus_port),
		]

	def _wait_answers(self, node: _Node, deadline: float, retry_bind: bool) -> None:
		"""Wait until the node answers PING. At first start a node that lost the race for its port (the
		harness picks free ports, then the server binds them) gets new ones, up to three times."""
		attempts = 3 if retry_bind else 1
		while True:
			try:
				self._wait_until(
					lambda: self._ping(node), deadline - time.monotonic(), f"redis cluster node {node.port}"
				)
				return
			except NodeExited:
				attempts -= 1
				if attempts <= 0 or "Address already in use" not in self._log_tail(node):
					raise
				node.port, node.bus_port = self._allocate_ports()
				if node.proxy is not None:
					node.proxy.close()
					self._open_proxy(node)
				self._spawn(node)

	def _ping(self, node: _Node) -> bool:
		if not node.running:
			raise NodeExited(f"redis cluster node {node.port} exited:\n{self._log_tail(node)}")
		with self._client(node.port) as client:
			return bool(client.ping())

	def _create_cluster(self, timeout: float) -> None:
		"""Join the nodes through their real ports. In a proxied cluster the addresses redis-cli reads
		back from the nodes are the proxies', which start() has opened by then."""
		result = subprocess.run(
			[
				self.cli_binary,
				"--cluster",
				"create",
				*(f"{HOST}:{port}" for port in self.ports),
				"--cluster-replicas",
				str(self.replicas_per_primary),
				"--cluster-yes",
			],
			stdin=subprocess.DEVNULL,
			capture_output=True,
			text=True,
			timeout=timeout,
		)
		if result.returncode != 0:
			raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout}\n{result.stderr}")

	def _client(self, port: int) -> redis.Redis:
		return redis.Redis(
			host=HOST, port=port, socket_connect_timeout=1, socket_timeout=5, decode_responses=True
		)

	def _command(self, port: int, *args: str) -> str:
		with self._client(port) as client:
			return client.execute_command(*args)

	def _cluster_info(self, port: int) -> dict[str, str]:
		return parse_info(self._command(port, "CLUSTER", "INFO"))

	def _info(self, port: int, section: str) -> dict:
		with self._client(port) as client:
			return client.info(section)

	def _nodes_view(self, port: int) -> list[NodeView]:
		"""CLUSTER NODES from one node, every port in it the node's real one."""
		views = parse_cluster_nodes(self._command(port, "CLUSTER", "NODES"))
		return [replace(view, port=self._real_port(view.port)) for view in views]

	def _view(self) -> list[NodeView]:
		"""CLUSTER NODES from the first live node that answers."""
		for port in self.live_ports():
			try:
				return self._nodes_view(port)
			except redis.RedisError:
				continue
		raise RuntimeError("no node of the redis cluster answers")

	def _wait_until(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
		"""Poll `probe` until it returns something truthy. A node that is starting or just died makes it
		raise a connection error; that counts as not yet."""
		deadline = time.monotonic() + timeout
		last_error: Exception | None = None
		while True:
			try:
				result = probe()
				if result:
					return result
			except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as error:
				last_error = error
			if time.monotonic() >= deadline:
				break
			time.sleep(POLL_INTERVAL)
		raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{self._diagnosis(last_error)}")

	def _diagnosis(self, error: Exception | None) -> str:
		lines = [f"; last error: {error!r}" if error else ""]
		try:
			port = self.live_ports()[0]
			lines.append(f"CLUSTER NODES from {port}:\n{self._command(port, 'CLUSTER', 'NODES')}")
			if self.proxied:
				proxies = (f"{n.proxy.port}->{n.port}" for n in self._nodes if n.proxy is not None)
				lines.append(f"proxy ports -> real ports: {', '.join(proxies)}")
		except (IndexError, redis.RedisError) as failure:
			lines.append(f"(no CLUSTER NODES: {failure!r})")
		return "\n".join(lines)

	def _log_tail(self, node: _Node, lines: int = 20) -> str:
		try:
			return "\n".join(node.log.read_text(errors="replace").splitlines()[-lines:]) if node.log else ""
		except OSError:
			return ""


def serve(url_file: str, replicas_per_primary: int = 0) -> None:
	"""Run a cluster until SIGTERM, its URL written to `url_file` once it is up: for scripts/test.sh, which
	hands it to the site suite (the bench's Python cannot import this harness)."""
	stopped = threading.Event()
	signal.signal(signal.SIGTERM, lambda *_: stopped.set())
	with ThrowawayRedisCluster(primaries=3, replicas_per_primary=replicas_per_primary) as cluster:
		Path(url_file).write_text(cluster.url)
		stopped.wait()


if __name__ == "__main__":
	serve(sys.argv[1])
