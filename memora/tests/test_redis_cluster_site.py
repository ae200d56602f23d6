# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""The review path on a site whose Memora Settings name a Redis Cluster node: the site reaches the
cluster through the Settings field alone, serves and takes answers without safe mode, and the answer
lands. scripts/test.sh starts the cluster and passes its URL in MEMORA_TEST_REDIS_CLUSTER_URL."""

import os
import unittest

import frappe
from redis.cluster import RedisCluster

from memora import runtime
from memora.api import reviews
from memora.runtime.config import forget_settings
from memora.services.srs import keys
from memora.tests.utils import CommittedSeasonTestCase, wait_for

PLAYER = "memora-cluster-player@example.com"
SEASON = "Test Redis Cluster"
QUESTION = "q-cluster-1"
CLUSTER_URL = os.environ.get("MEMORA_TEST_REDIS_CLUSTER_URL")


@unittest.skipUnless(CLUSTER_URL, "needs MEMORA_TEST_REDIS_CLUSTER_URL (scripts/test.sh starts a cluster)")
class TestRedisClusterSite(CommittedSeasonTestCase):
	USERS = ((PLAYER, "Memora Player"),)
	SEASON = SEASON
	PLAYERS = (PLAYER,)

	def setUp(self):
		frappe.set_user("Administrator")
		self.use_redis(CLUSTER_URL)
		self.addCleanup(self.use_redis, "")
		self.reset_trackers()
		self.add_due_tracker(PLAYER, QUESTION)
		frappe.db.commit()

	def use_redis(self, url: str) -> None:
		frappe.db.set_single_value("Memora Settings", "redis_url", url)
		frappe.db.commit()
		forget_settings()

	def test_a_player_reviews_through_the_cluster(self):
		self.assertTrue(runtime.is_cluster(runtime.redis_client()))
		frappe.set_user(PLAYER)
		session = reviews.get_review_session(season=SEASON)
		self.assertEqual((session["questions"], session["safe_mode"]), ([QUESTION], False))
		result = reviews.submit_review_session(
			season=SEASON, responses=[{"question_id": QUESTION, "is_correct": True, "duration_ms": 2000}]
		)
		self.assertEqual((result["accepted"], result["safe_mode"]), (1, False))

		cluster = RedisCluster.from_url(CLUSTER_URL, decode_responses=True)
		self.addCleanup(cluster.close)
		score = cluster.zscore(keys.queue_key(PLAYER, SEASON), QUESTION)
		self.assertEqual(score, result["results"][0]["next_review_ts"])
		wait_for(lambda: bool(self.reps()), 60, "the site's worker has not written the answer")
		self.assertEqual(self.reps(), 1, "the site's worker wrote the answer")

	def reps(self) -> int:
		frappe.db.rollback()
		return frappe.db.get_value(
			"Player Memory Tracker", {"player": PLAYER, "season": SEASON, "question_id": QUESTION}, "reps"
		)
