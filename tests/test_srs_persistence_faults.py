"""Review persistence through real RQ worker processes, with the failures the issue names: a worker
SIGKILLed mid-batch, MariaDB cut during a job, the queue's Redis down, racing workers, reordering."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from rq import Worker

from memora import runtime
from memora.services.srs import in_flight, pending, persistence
from memora.services.srs.persistence import jobs as persistence_jobs
from memora.tests.cards import card
from tests.harness.proxy import CuttableProxy
from tests.harness.workers import wait_until
from tests.persistence_data import (
	PLAYER,
	SEASON,
	RowLock,
	audit_rows,
	forget_jobs,
	kill_worker_mid_batch,
	record_pending,
	rows,
	upsert_waiting,
)
from tests.persistence_data import job_status as status


@pytest.fixture(autouse=True)
def fresh_queue():
	yield
	forget_jobs()


def worker_behind(proxy, workers, retries: int, delay: float) -> None:
	"""A short-queue worker that reaches MariaDB only through `proxy` and retries a batch `retries`
	times, `delay` seconds apart at first."""
	workers(
		"short",
		MEMORA_DB_PORT=str(proxy.port),
		MEMORA_MAX_RETRIES=str(retries),
		MEMORA_RETRY_DELAY_BASE=str(delay),
	)


@pytest.mark.fault
def test_worker_killed_mid_batch_is_redelivered_and_every_review_lands_once(db, workers):
	now = time.time()
	persistence.persist_review_batch([card("q0", "before", now - 100)], PLAYER, SEASON)
	states = [card(f"q{i}", f"r{i}", now, stability=float(i + 1)) for i in range(5)]
	record_pending(states)
	job_id = kill_worker_mid_batch(db, workers, states)

	assert status(job_id) == "started"  # RQ itself would not redeliver it
	assert {q: r["last_review_id"] for q, r in rows(db).items()} == {"q0": "before"}  # nothing partly written

	workers("short")  # the restarted worker redelivers it when it starts
	assert wait_until(lambda: status(job_id) == "finished", timeout=30)
	stored = rows(db)
	assert {q: (r["last_review_id"], float(r["stability"])) for q, r in stored.items()} == {
		f"q{i}": (f"r{i}", float(i + 1)) for i in range(5)
	}
	assert runtime.fetch_job(job_id).redeliveries == 1
	assert pending.get_all(PLAYER, SEASON) == {}


@pytest.mark.fault
@pytest.mark.plain_redis
def test_worker_killed_after_the_commit_before_the_clean_up_lands_every_review_once(db, workers):
	"""The lost acknowledgement of persistence: the batch commits, then the worker dies before it
	clears the pending states. Redelivered, the batch writes nothing twice and then clears them."""
	now = time.time()
	persistence.persist_review_batch([card("q0", "before", now - 100)], PLAYER, SEASON)
	states = [card(f"q{i}", f"r{i}", now) for i in range(3)]
	record_pending(states)
	data = urlparse(runtime.redis_url())
	proxy = CuttableProxy(data.hostname, data.port)
	lock = RowLock(PLAYER, SEASON, "q0")
	worker = workers(
		"short",
		MEMORA_REDIS_URL=data._replace(netloc=f"127.0.0.1:{proxy.port}").geturl(),
		MEMORA_QUEUE_URL=runtime.queue_url(),
		MEMORA_REDIS_SOCKET_TIMEOUT_MS="60000",
	)
	try:
		job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
		assert wait_until(lambda: upsert_waiting(db), timeout=30)  # past its reads of Redis
		proxy.hold()  # its next call to Redis, the clean-up after the commit, gets no answer
		lock.release()
		assert wait_until(lambda: review_ids(db) == {"q0": "r0", "q1": "r1", "q2": "r2"}, timeout=30)
		worker.kill()
	finally:
		proxy.close()
	assert sorted(pending.get_all(PLAYER, SEASON)) == ["q0", "q1", "q2"]  # never cleared

	workers("short")  # the restarted worker redelivers the job
	assert wait_until(lambda: status(job_id) == "finished", timeout=30)
	assert runtime.fetch_job(job_id).redeliveries == 1
	assert review_ids(db) == {"q0": "r0", "q1": "r1", "q2": "r2"}
	logged = db.sql("select name from `tabMemora Review Log` where player = %s order by name", (PLAYER,))
	assert [row[0] for row in logged] == ["before", "r0", "r1", "r2"]  # each answer logged once
	assert pending.get_all(PLAYER, SEASON) == {}


def review_ids(db) -> dict[str, str]:
	return {q: r["last_review_id"] for q, r in rows(db).items()}


@pytest.mark.fault
def test_a_batch_that_keeps_killing_workers_is_given_up_and_can_be_replayed(db, workers):
	now = time.time()
	persistence.persist_review_batch([card("q0", "before", now - 100)], PLAYER, SEASON)
	states = [card("q0", "r0", now), card("q1", "r1", now)]
	with runtime.correlation("trace-killer"):
		job_id = kill_worker_mid_batch(db, workers, states)

	workers("short", MEMORA_MAX_RETRIES="0")  # no redelivery allowed: recovery gives up at once
	assert wait_until(lambda: audit_rows(db, "Failed"), timeout=30)
	failed = audit_rows(db, "Failed")[0]
	assert (failed["job_id"], failed["correlation_id"], failed["row_count"]) == (job_id, "trace-killer", 2)
	with runtime.override_settings(max_retries=0):
		assert persistence.recover_abandoned_jobs() == []
	assert len(audit_rows(db, "Failed")) == 1  # recorded once

	assert [f["job_id"] for f in persistence.failed_batches()] == [job_id]
	assert persistence.replay_failed([job_id])["replayed"] == [job_id]
	assert wait_until(lambda: status(job_id) == "finished", timeout=30)
	assert {q: r["last_review_id"] for q, r in rows(db).items()} == {"q0": "r0", "q1": "r1"}
	assert persistence.failed_batches() == []


@pytest.mark.fault
def test_database_cut_during_a_job_is_survived_by_retrying(db, workers, mariadb_proxy):
	states = [card(f"q{i}", f"r{i}", time.time()) for i in range(3)]
	worker_behind(mariadb_proxy, workers, retries=4, delay=0.5)
	mariadb_proxy.cut()
	with runtime.correlation("trace-cut"):
		job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	assert wait_until(lambda: status(job_id) == "started", timeout=30)
	# The first attempts meet a database that is not there.
	refused = mariadb_proxy.refused  # the worker's start-up hooks may have been refused already
	assert wait_until(lambda: mariadb_proxy.refused >= refused + 2, timeout=30)
	mariadb_proxy.restore()

	assert wait_until(lambda: status(job_id) == "finished", timeout=30)
	assert sorted(rows(db)) == ["q0", "q1", "q2"]
	trail = audit_rows(db)
	assert [r["status"] for r in trail][-1] == "Success" and trail[0]["status"] == "Retry"
	assert {r["correlation_id"] for r in trail} == {"trace-cut"}
	assert {r["job_id"] for r in trail} == {job_id}


@pytest.mark.fault
def test_database_down_for_good_leaves_a_failed_job_that_an_admin_replays(db, workers, mariadb_proxy):
	states = [card("q1", "r1", time.time())]
	worker_behind(mariadb_proxy, workers, retries=1, delay=0.05)
	mariadb_proxy.cut()
	job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	assert wait_until(lambda: status(job_id) == "failed", timeout=30)
	assert "PersistenceFailed" in runtime.fetch_job(job_id).error
	assert audit_rows(db) == []  # the database was away: the failed job is the record
	failed = persistence.failed_batches()
	assert [(f["job_id"], f["source"], f["player"], f["row_count"]) for f in failed] == [
		(job_id, "queue", PLAYER, 1)
	]

	mariadb_proxy.restore()
	assert persistence.replay_failed()["replayed"] == [job_id]
	assert wait_until(lambda: status(job_id) == "finished", timeout=30)
	assert rows(db)["q1"]["last_review_id"] == "r1"
	assert persistence.failed_batches() == []


@pytest.mark.fault
def test_queue_down_means_the_batch_is_written_synchronously(db, throwaway_redis, monkeypatch):
	monkeypatch.setenv("MEMORA_QUEUE_URL", throwaway_redis.url)
	throwaway_redis.stop()
	states = [card("q1", "r1", time.time()), card("q2", "r2", time.time())]
	record_pending(states)

	job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	assert sorted(rows(db)) == ["q1", "q2"]
	assert pending.get_all(PLAYER, SEASON) == {}
	state = persistence.get_persistence_status(job_id)
	assert (state["status"], state["source"], state["row_count"]) == ("finished", "audit_log", 2)
	assert '"synchronous"' in audit_rows(db, "Success")[0]["details"]


def test_two_workers_racing_on_the_same_new_cards_make_one_row_each(db, workers):
	started = {workers("short").process.pid, workers("short").process.pid}
	queue = runtime.rq_queue("short")
	assert wait_until(lambda: started <= {w.pid for w in Worker.all(queue=queue)}, timeout=30)
	now = time.time()
	job_ids = []
	for batch in range(8):
		cards = [f"b{batch}-q{i:02d}" for i in range(20)]
		job_ids.append(
			persistence.queue_review_batch([card(q, f"a{batch}", now) for q in cards], PLAYER, SEASON)
		)
		job_ids.append(
			persistence.queue_review_batch([card(q, f"b{batch}", now + 1) for q in cards], PLAYER, SEASON)
		)
	assert wait_until(lambda: all(status(j) == "finished" for j in job_ids), timeout=60)
	stored = rows(db)
	assert len(stored) == 160
	assert {r["last_review_id"][0] for r in stored.values()} == {"b"}  # the newer review won everywhere


def test_out_of_order_and_repeated_delivery_through_a_worker(db, workers):
	now = time.time()
	newer = [card("q1", "newer", now, stability=8.0)]
	older = [card("q1", "older", now - 30, stability=1.0)]
	workers("short")
	first = persistence.queue_review_batch(newer, PLAYER, SEASON)
	second = persistence.queue_review_batch(older, PLAYER, SEASON)
	assert wait_until(lambda: status(first) == status(second) == "finished", timeout=30)
	settled = rows(db)
	assert (settled["q1"]["last_review_id"], float(settled["q1"]["stability"])) == ("newer", 8.0)

	again = persistence.queue_review_batch(newer, PLAYER, SEASON)
	assert again == first
	assert wait_until(lambda: status(again) == "finished", timeout=30)
	assert rows(db) == settled


def test_a_job_a_dying_worker_took_off_the_queue_is_put_back(db, workers, monkeypatch):
	"""RQ takes a job off its queue (BLPOP) before it records it started: a worker killed in between
	leaves the job on no queue and in no registry. Recovery finds it through the in-flight index."""
	states = [card("q1", "r1", time.time())]
	record_pending(states)
	job_id = persistence.queue_review_batch(states, PLAYER, SEASON)
	queue = runtime.rq_queue(runtime.settings().persistence_queue)
	assert runtime.queue_connection().lpop(queue.key).decode() == job_id  # the dying worker's BLPOP
	assert persistence.recover_abandoned_jobs() == []  # a live worker may still be starting it
	monkeypatch.setattr(persistence_jobs, "STRANDED_AFTER", 0)
	assert persistence.recover_abandoned_jobs() == [job_id]
	assert persistence.recover_abandoned_jobs() == []  # back on the queue: not stranded twice
	workers("short", "default", "long")
	assert wait_until(lambda: status(job_id) == "finished")
	assert rows(db)["q1"]["last_review_id"] == "r1"
	assert wait_until(lambda: runtime.queue_connection().zcard(in_flight.index_key()) == 0)
