"""The hand-over contract between the SRS engine and persistence, through a real RQ worker."""

import time

from memora import runtime
from memora.services import pending_reviews, srs_persistence
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
	pending_reviews.record(pipe, "p@x.com", "S1", states)
	pipe.execute()
	workers("short")
	job_id = srs_persistence.queue_review_batch(states, "p@x.com", "S1")
	assert wait_until(lambda: len(tracker_rows(db)) == 2, timeout=30)
	assert wait_until(lambda: runtime.fetch_job(job_id).get_status() == "finished")
	assert pending_reviews.get_all("p@x.com", "S1") == {}


def test_older_review_never_overwrites_newer(db):
	now = time.time()
	srs_persistence.persist_review_batch(
		[card("q1", "new", now, 3.0, next_review_ts=now + 900)], "p@x.com", "S1"
	)
	srs_persistence.persist_review_batch(
		[card("q1", "old", now - 60, 1.0, next_review_ts=now + 10)], "p@x.com", "S1"
	)
	srs_persistence.persist_review_batch(
		[card("q1", "new", now, 3.0, next_review_ts=now + 900)], "p@x.com", "S1"
	)
	rows = tracker_rows(db)
	assert len(rows) == 1
	assert (float(rows[0][1]), rows[0][2]) == (3.0, "new")
