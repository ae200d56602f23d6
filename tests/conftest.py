"""Standalone test suite fixtures: a throwaway MariaDB database and Redis namespace per run, real
RQ worker processes, and cuttable proxies / throwaway servers for fault tests."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from memora import runtime, schema, standalone
from memora.services.srs import partitions
from tests.harness.net import free_port
from tests.harness.proxy import CuttableProxy
from tests.harness.redis_cluster import ThrowawayRedisCluster
from tests.harness.redis_server import ThrowawayRedis
from tests.harness.workers import WorkerProcess

os.environ.setdefault("MEMORA_TIME_ZONE", "UTC")
CLUSTER = pytest.StashKey[ThrowawayRedisCluster]()


def pytest_addoption(parser):
	parser.addoption(
		"--redis-cluster",
		action="store_true",
		help="keep Memora's data in a throwaway 3-primary Redis Cluster; the job queue stays on a plain "
		"Redis (MEMORA_QUEUE_URL, else MEMORA_REDIS_URL as given)",
	)


def pytest_configure(config):
	"""With --redis-cluster, the whole run (and every worker it starts) uses a real cluster for data."""
	if not config.getoption("--redis-cluster"):
		return
	cluster = ThrowawayRedisCluster(primaries=3)
	cluster.start()
	config.stash[CLUSTER] = cluster
	os.environ["MEMORA_QUEUE_URL"] = os.environ.get("MEMORA_QUEUE_URL") or os.environ.get(
		"MEMORA_REDIS_URL", "redis://127.0.0.1:6379/0"
	)
	os.environ["MEMORA_REDIS_URL"] = cluster.url


def pytest_collection_modifyitems(config, items):
	if not config.getoption("--redis-cluster"):
		return
	skip = pytest.mark.skip(reason="a proxy in front of one node cannot cut a cluster client's traffic")
	for item in items:
		if item.get_closest_marker("plain_redis"):
			item.add_marker(skip)


def pytest_unconfigure(config):
	cluster = config.stash.get(CLUSTER, None)
	if cluster:
		cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster(request) -> ThrowawayRedisCluster | None:
	"""The run's cluster with --redis-cluster, else None."""
	return request.config.stash.get(CLUSTER, None)


@pytest.fixture(scope="session")
def memora_database():
	"""One database per run, built from the DocType JSON; dropped (with its Redis keys) at the end."""
	name = standalone.throwaway_name("test")
	standalone.create_database(name)
	yield name
	standalone.drop_database(name)


def clear_tables() -> None:
	database = runtime.db()
	database.rollback()
	for doctype in schema.table_doctypes():
		database.sql(f"delete from `{schema.table_name(doctype)}`")
	database.commit()


def clear_keys() -> None:
	client = runtime.redis_client()
	keys = list(client.scan_iter(match=runtime.key_prefix() + "*", count=1000))
	if keys:
		client.delete(*keys)


@pytest.fixture(autouse=True)
def clean_state(request):
	"""Every test starts with empty tables, no keys and no queued jobs of this run; a unit test (marked
	`unit`) needs no server and gets none of it."""
	if request.node.get_closest_marker("unit"):
		yield
		return
	memora_database = request.getfixturevalue("memora_database")
	clear_tables()
	clear_keys()
	standalone.purge_queues(memora_database)
	yield
	runtime.db().rollback()


@pytest.fixture
def db():
	return runtime.db()


@pytest.fixture
def redis_client():
	return runtime.redis_client()


@pytest.fixture
def short_lock_waits(db):
	"""This connection gives up on a row lock after 1 s (a transient error), and retries come fast."""
	db.sql("set session innodb_lock_wait_timeout = 1")
	with runtime.override_settings(max_retries=2, retry_delay_base=0.05, retry_delay_max=0.2):
		yield
	runtime.reset_db_after_error()
	db.sql("set session innodb_lock_wait_timeout = default")


@pytest.fixture
def workers():
	"""Factory for real RQ worker processes; all are killed when the test ends."""
	started: list[WorkerProcess] = []

	def start(*queues: str, **env: str) -> WorkerProcess:
		worker = WorkerProcess(queues or ("short", "default", "long"), env=env)
		started.append(worker)
		return worker

	yield start
	for worker in started:
		worker.kill()


@pytest.fixture
def mariadb_proxy():
	"""A proxy in front of the real MariaDB that the test can cut and restore."""
	config = runtime.db_config()
	proxy = CuttableProxy(config["host"], config["port"])
	yield proxy
	proxy.close()


@pytest.fixture
def queue_redis_proxy(monkeypatch):
	"""A proxy in front of the job queue's Redis that the test can cut and restore: the jobs this test
	queues, the workers it runs in its own process and the in-flight records all go through it."""
	url = urlsplit(runtime.queue_url())
	proxy = CuttableProxy(url.hostname, url.port or 6379)
	monkeypatch.setenv("MEMORA_QUEUE_URL", url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl())
	yield proxy
	proxy.close()


def point_data_redis_at_nothing(monkeypatch) -> None:
	"""Memora's data Redis names a loopback port nobody listens on (RQ stays on the shared Redis): every
	data call is refused at once, so the safe-mode paths run without stopping anything."""
	monkeypatch.setenv("MEMORA_QUEUE_URL", runtime.queue_url())
	monkeypatch.setenv("MEMORA_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")


@pytest.fixture
def unreachable_redis(monkeypatch):
	point_data_redis_at_nothing(monkeypatch)


@pytest.fixture
def throwaway_redis():
	"""A redis-server of this test's own that it may stop and start again."""
	server = ThrowawayRedis()
	server.start()
	yield server
	server.stop()


def reset_partitioning(database) -> None:
	"""Put the partitioned tables (trackers, review log) back as install leaves them: one DEFAULT
	partition each."""
	for doctype in partitions.PARTITIONED_DOCTYPES:
		found = partitions.partitions(doctype)
		if len(found) > 1 or partitions.DEFAULT_PARTITION not in found:
			database.sql_ddl(f"alter table `{schema.table_name(doctype)}` remove partitioning")
	partitions.ensure_partitioned_table()


@pytest.fixture
def default_partition_only(db):
	"""The test starts and ends with the partitioned tables as install leaves them (for partitioning tests)."""
	reset_partitioning(db)
	yield
	db.rollback()
	reset_partitioning(db)
