"""The hand-over contract between the SRS engine and persistence, through a real RQ worker."""

import time

from memora import runtime
from memora.services.srs import pending, persistence
from memora.tests.cards import card
from tests.harness.workers import wait_until


def tracker_rows(db):
	db.rollback()
	return db.sql(
		"select question_id, stability, last_review_id from `tabPlayer Memory Tracker` order by question_id"
	)


def test_queued_batch_lands_once_and_clears_pending(db, workers):
	now = time.time()
	states = [card("q1", "r1", now), card("q2", "r2", now, 1.0, next_review_ts=now + 3600)]
	pipe = runtime.redis_client().pipeline()
	pending.record(pipe, "p@x.com", "S1", states)
	pipe.execute()
	workers("short")
	job_id = persistence.queue_review_batch(states, "p@x.com", "S1")
	assert wait_until(lambda: len(tracker_rows(db)) == 2, timeout=30)
	assert wait_until(lambda: runtime.fetch_job(job_id).status == "finished")
	assert pending.get_all("p@x.com", "S1") == {}


def test_older_review_never_overwrites_newer(db):
	now = time.time()
	persistence.persist_review_batch([card("q1", "new", now, 3.0, next_review_ts=now + 900)], "p@x.com", "S1")
	persistence.persist_review_batch(
		[card("q1", "old", now - 60, 1.0, next_review_ts=now + 10)], "p@x.com", "S1"
	)
	persistence.persist_review_batch([card("q1", "new", now, 3.0, next_review_ts=now + 900)], "p@x.com", "S1")
	rows = tracker_rows(db)
	assert len(rows) == 1
	assert (float(rows[0][1]), rows[0][2]) == (3.0, "new")


def test_a_batch_queued_under_the_path_before_the_package_split_still_lands(db, workers):
	"""A job queued by the Memora before `services/srs/` names `memora.services.srs_persistence`: a worker
	of today runs it, its status reads as a persistence job's, and the batch lands."""
	now = time.time()
	states = [card("q1", "r-old-path", now)]
	batch = persistence.batch_of(states, "p@x.com", "S1")
	runtime.enqueue(
		"memora.services.srs_persistence.run_batch_job",
		queue=runtime.settings().persistence_queue,
		job_id=batch.job_id,
		responses=batch.states,
		user=batch.user,
		season=batch.season,
	)
	workers("short")
	assert wait_until(lambda: runtime.fetch_job(batch.job_id).status == "finished", timeout=30)
	assert [row[2] for row in tracker_rows(db)] == ["r-old-path"]
	status = persistence.get_persistence_status(batch.job_id)
	assert (status["source"], status["status"], status["row_count"]) == ("queue", "finished", 1)
