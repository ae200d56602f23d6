"""Partition changes against live traffic: a transaction open across a partition change gets MariaDB's
1412 and is retried as a whole; seasons are created, archived and dropped while real workers persist
about 1,000 answers a second, and every answer lands exactly once."""

from __future__ import annotations

import threading
import time

import pymysql
import pytest

from memora import runtime
from memora.services.srs import archiver, partitions, pending, reviews
from tests.harness.workers import wait_until
from tests.persistence_data import audit_rows
from tests.population import populated_season
from tests.srs_data import make_season

LIVE = "Load Live"
PLAYERS = [f"p{n}@example.com" for n in range(20)]
CARDS = 300
SESSION = 20
PACE = 1000  # answers a second


def test_a_transaction_open_across_a_partition_change_gets_1412_which_is_retried(db):
	make_season("DDL Race")
	other = pymysql.connect(**runtime.db_config())
	try:
		with other.cursor() as cursor:
			# The transaction's snapshot is taken before the change, on another table.
			cursor.execute("select count(*) from `tabMemora Season`")
			partitions.create_partition("DDL Race")
			with pytest.raises(pymysql.err.OperationalError) as caught:
				cursor.execute("select count(*) from `tabPlayer Memory Tracker`")
	finally:
		other.close()
	assert caught.value.args[0] == 1412
	assert runtime.is_transient_db_error(caught.value)


def answer(card: int) -> dict:
	return {"question_id": f"q{card}", "is_correct": card % 3 != 0, "duration_ms": 4000}


class Reviewers(threading.Thread):
	"""Players answering their due cards in sessions of 20 at about PACE answers a second, through
	the real submit path, until stopped or out of cards."""

	def __init__(self) -> None:
		super().__init__(daemon=True)
		self.stop, self.accepted, self.error = threading.Event(), 0, None

	def run(self) -> None:
		started = time.monotonic()
		try:
			for first in range(0, CARDS, SESSION):
				for player in PLAYERS:
					if self.stop.is_set():
						return
					result = reviews.submit_review_session(
						player, LIVE, [answer(card) for card in range(first, first + SESSION)]
					)
					self.accepted += len(result["results"])
					time.sleep(max(0.0, started + self.accepted / PACE - time.monotonic()))
		except Exception as e:
			self.error = e
		finally:
			runtime.db().close()


@pytest.mark.slow
def test_every_answer_lands_while_seasons_are_created_archived_and_dropped(db, workers):
	populated_season(LIVE, len(PLAYERS), CARDS, active=True)
	partitions.create_partition(LIVE)
	populated_season("Load Past", 5, 40)
	partitions.create_partition("Load Past")
	workers("short")
	workers("short")
	reviewers = Reviewers()
	reviewers.start()

	changes = (
		lambda: partitions.create_partition(make_season("Load New 0", active=False))["created"],
		lambda: archiver.archive_season("Load Past")["success"],
		lambda: partitions.create_partition(make_season("Load New 1", active=False))["created"],
		lambda: partitions.drop_partition("Load New 0", force=True)["dropped"],
		lambda: partitions.create_partition("Load New 0")["created"],
	)
	made = []
	for number, change in enumerate(changes, start=1):
		# Spread over the traffic: each change starts once another thousand answers are in.
		due = number * 1000
		assert wait_until(lambda due=due: reviewers.accepted >= due or not reviewers.is_alive(), timeout=60)
		made.append(change())
	reviewers.join(timeout=120)

	assert reviewers.error is None, reviewers.error
	assert made == [True] * len(changes)
	assert reviewers.accepted == len(PLAYERS) * CARDS
	assert wait_until(lambda: not any(pending.get_all(p, LIVE) for p in PLAYERS), timeout=120)
	db.rollback()
	answered, reps, logged = db.sql(
		"select count(*), sum(reps), (select count(*) from `tabMemora Review Log` where season = %s) "
		"from `tabPlayer Memory Tracker` where season = %s and last_review_id is not null",
		(LIVE, LIVE),
	)[0]
	assert (answered, int(reps), logged) == (reviewers.accepted,) * 3
	assert audit_rows(db, "Failed") == []
