"""The runtime seam outside a site: PyMySQL, redis-py, RQ, settings from DocType defaults, the clock."""

from datetime import datetime, timezone

import pymysql
import pytest

from memora import runtime
from tests.harness.workers import wait_until


def test_sql_tuple_and_dict_rows(db):
	assert db.sql("select 1, 'a'") == ((1, "a"),)
	assert db.sql("select %(x)s as x", {"x": 5}, as_dict=True) == [{"x": 5}]


def test_rollback_discards_uncommitted_writes(db):
	db.sql("insert into `tabSRS Audit Log` (name, operation, status) values ('r1', 'test', 'Success')")
	db.rollback()
	assert db.sql("select count(*) from `tabSRS Audit Log`")[0][0] == 0


def test_settings_defaults_come_from_doctype_json():
	s = runtime.settings()
	assert (s.max_retries, s.retry_delay_base, s.retry_delay_max, s.idempotency_window) == (3, 1.0, 60.0, 300)
	assert s.scheduler_algorithm == "FSRS"
	assert s.retention_years == 3
	assert s.reconciliation_alert_threshold == pytest.approx(0.1)


def test_settings_override_and_env(monkeypatch):
	monkeypatch.setenv("MEMORA_MAX_RETRIES", "7")
	assert runtime.settings().max_retries == 7
	with runtime.override_settings(max_retries=2):
		assert runtime.settings().max_retries == 2
	assert runtime.settings().max_retries == 7
	with pytest.raises(KeyError):
		with runtime.override_settings(no_such_field=1):
			pass


def test_keys_are_namespaced_per_database(memora_database):
	assert runtime.key("srs", "u") == f"{memora_database}|srs:u"


def test_clock_round_trip_in_system_zone(monkeypatch):
	monkeypatch.setenv("MEMORA_TIME_ZONE", "Asia/Kolkata")
	ts = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()
	local = runtime.from_ts(ts)
	assert local == datetime(2026, 3, 1, 17, 30)
	assert runtime.to_ts(local) == ts
	assert runtime.to_ts(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)) == ts


def test_correlation_ids_nest():
	with runtime.correlation("outer") as outer:
		assert runtime.correlation_id() == outer == "outer"
		with runtime.correlation() as inner:
			assert inner == "outer"
		with runtime.correlation("other"):
			assert runtime.correlation_id() == "other"
		assert runtime.correlation_id() == "outer"


def test_transient_error_classification():
	assert runtime.is_transient_db_error(pymysql.err.OperationalError(2013, "Lost connection"))
	assert runtime.is_transient_db_error(pymysql.err.OperationalError(1213, "Deadlock"))
	assert not runtime.is_transient_db_error(pymysql.err.ProgrammingError(1064, "syntax"))


def record_job(marker: str) -> str:
	"""Job target for the enqueue test: writes an audit row carrying the job's correlation id."""
	runtime.db().sql(
		"insert into `tabSRS Audit Log` (name, operation, status, correlation_id) values (%s, 'job', 'Success', %s)",
		(marker, runtime.correlation_id()),
	)
	return marker


def test_enqueue_runs_in_a_real_worker_with_correlation(db, workers):
	workers("default")
	with runtime.correlation("trace-123"):
		job_id = runtime.enqueue(
			"tests.test_runtime.record_job", queue="default", job_id="job-rt-1", marker="m1"
		)
	assert job_id == "job-rt-1"
	assert wait_until(lambda: runtime.fetch_job("job-rt-1").status == "finished", timeout=30)
	db.rollback()
	assert db.sql("select correlation_id from `tabSRS Audit Log` where name='m1'") == (("trace-123",),)


@pytest.mark.fault
def test_db_reconnects_after_connection_loss(db, mariadb_proxy, monkeypatch):
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	proxied = runtime.db()
	assert proxied.sql("select 1") == ((1,),)
	mariadb_proxy.cut()
	with pytest.raises(pymysql.err.OperationalError):
		proxied.sql("select 1")
	mariadb_proxy.restore()
	assert proxied.sql("select 1") == ((1,),)
	proxied.close()


@pytest.mark.fault
def test_throwaway_redis_can_be_stopped(throwaway_redis):
	import redis

	client = redis.Redis.from_url(throwaway_redis.url, socket_timeout=0.5)
	assert client.ping()
	throwaway_redis.stop()
	with pytest.raises(redis.ConnectionError):
		client.ping()
	throwaway_redis.start()
	assert client.ping()


def test_a_job_deleted_while_a_worker_took_it_reads_as_gone():
	"""Erasure or a take-over deletes a waiting job just as a worker starts it: the worker's status
	fields (what RQ writes on start) are then all that is left of it under the job's key."""
	job_id = runtime.enqueue("memora.runtime.jobs.queue.queue_url", queue="default")
	job = runtime.fetch_job(job_id)
	key = job.rq_job.key
	runtime.delete_job(job_id)
	runtime.queue_connection().hset(
		key, mapping={"status": "started", "worker_name": "gone", "started_at": "x"}
	)
	try:
		assert runtime.fetch_job(job_id) is None
	finally:
		runtime.queue_connection().delete(key)
