# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Persistence jobs under Frappe's own worker (`bench worker`, which forks a work horse per job): the
first job takes over the batches queued behind it, writes them in its transaction, and every job
finishes with its own result."""

import subprocess
import time

import frappe

from memora import runtime
from memora.services.srs import persistence
from memora.tests.cards import card
from memora.tests.utils import CommittedSeasonTestCase

PLAYERS = tuple(f"memora-take-{n}@example.com" for n in range(4))
QUEUE = "long"  # a queue of this test's own: the burst worker runs whatever waits on it


class TestPersistenceUnderFrappeWorker(CommittedSeasonTestCase):
	SEASON = "Take Over Test Season"

	def setUp(self):
		super().setUp()
		self.settings = frappe.get_doc("Memora Settings")
		self.queue_before = self.settings.persistence_queue
		self.settings.persistence_queue = QUEUE
		self.settings.save()
		frappe.db.commit()

	def tearDown(self):
		self.settings.reload()
		self.settings.persistence_queue = self.queue_before
		self.settings.save()
		frappe.db.commit()
		super().tearDown()

	def test_queued_batches_are_written_together_and_each_job_finishes(self):
		now = time.time()
		run = frappe.generate_hash(length=8)  # new batches: an earlier run's idempotency windows may stand
		job_ids = [
			persistence.queue_review_batch(
				[card(f"q{i}", f"r{i}-{run}", now) for i in range(3)], player, self.SEASON
			)
			for player in PLAYERS
		]
		frappe.db.commit()
		subprocess.run(
			runtime.worker_command((QUEUE,), burst=True),
			cwd=frappe.utils.get_bench_path() + "/sites",
			check=True,
			capture_output=True,
			timeout=120,
		)

		for job_id in job_ids:
			status = persistence.get_persistence_status(job_id)
			self.assertEqual((status["status"], status["result"]["processed_count"]), ("finished", 3))
		rows = frappe.get_all(
			"Player Memory Tracker", {"season": self.SEASON}, ["player", "question_id", "modified"]
		)
		self.assertEqual(len(rows), 3 * len(PLAYERS))
		self.assertEqual(len({row.modified for row in rows}), 1)  # one transaction for all four jobs
