"""The figures behind Desk's number cards, chart and SRS Cache Health report, on real MariaDB + Redis."""

from datetime import timedelta

import pytest

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import redis_fitness
from memora.services.srs import (
	keys,
	overview,
	partitions,
	persistence,
	rebuild,
	reconciliation_runs,
	review_counts,
	reviews,
	seasons,
)
from tests.harness.net import free_port
from tests.population import populated_season
from tests.srs_data import insert_trackers, make_season


def test_active_season_is_none_until_one_is_active():
	assert seasons.active_season() is None
	make_season("Ov Live")
	assert seasons.active_season() == "Ov Live"


def test_tracker_estimate_counts_exactly_without_a_partition_and_estimates_with_one():
	populated_season("Ov Rows", players=3, questions=4)
	assert overview.season_trackers_estimate("Ov Rows") == 12

	partitions.create_partition("Ov Rows")
	runtime.db().sql_ddl("analyze table `tabPlayer Memory Tracker`")
	assert overview.season_trackers_estimate("Ov Rows") == 12


def test_cache_health_sums_the_seasons_queues(redis_client):
	populated_season("Ov Cache", players=3, questions=4)
	rebuild.rebuild_season_cache("Ov Cache")
	# One card of one player moves to tomorrow: 11 of the 12 cards stay due.
	redis_client.zadd(keys.queue_key("p0@example.com", "Ov Cache"), {"q0": runtime.now_ts() + 86400})

	health = overview.season_cache_health("Ov Cache")
	assert {k: health[k] for k in ("players", "queues", "cards", "due_now")} == {
		"players": 3,
		"queues": 3,
		"cards": 12,
		"due_now": 11,
	}
	assert health["memory_bytes"] > 0 and health["last_reconciliation"] is None

	reconciliation_runs.reconcile_cache_with_database(season="Ov Cache")
	health = overview.season_cache_health("Ov Cache")
	assert health["last_reconciliation"] and health["corrections"] == 1
	assert overview.last_discrepancy_rate() > 0


def test_redis_eviction_gives_desk_a_headline_and_the_sentences_behind_it():
	summary = overview.redis_eviction()
	assert {"safe", "evicted_keys", "nodes", "problems", "headline"} <= set(summary)
	assert summary["nodes"] and summary["headline"] == redis_fitness.headline(summary)


def test_reviews_per_day_are_zero_before_any_review_and_need_a_positive_span():
	assert list(overview.reviews_per_day("Ov Days", 3).values()) == [0, 0, 0]
	with pytest.raises(ValidationError, match="days"):
		overview.reviews_per_day("Ov Days", 0)


def test_reviews_per_day_come_back_from_the_review_log_when_redis_lost_them(redis_client):
	"""The hash is not the only copy: a FLUSHDB or a restart without persistence loses nothing."""
	make_season("Ov Log")
	insert_trackers("ana@example.com", "Ov Log", {"q1": runtime.now_ts() - 60, "q2": runtime.now_ts() - 60})
	answers = [{"question_id": q, "is_correct": True, "duration_ms": 900} for q in ("q1", "q2")]
	job = reviews.submit_review_session("ana@example.com", "Ov Log", answers)["persistence_job_id"]
	persistence.run_batch_job(**runtime.fetch_job(job).kwargs)
	today = runtime.now().date()
	assert overview.reviews_per_day("Ov Log", 1) == {today: 2}

	redis_client.delete(keys.reviews_per_day_key("Ov Log"))
	assert overview.reviews_per_day("Ov Log", 2) == {today - timedelta(days=1): 0, today: 2}
	assert redis_client.hget(keys.reviews_per_day_key("Ov Log"), today.isoformat()) == "2"


def test_counting_reviews_never_fails_a_submission_when_redis_refuses(monkeypatch, caplog):
	monkeypatch.setenv("MEMORA_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
	review_counts.record("Ov Days", 2)  # nothing listens there: logged, not raised
	assert "reviews_not_counted" in caplog.text


def test_seasons_skip_archived_unless_asked():
	make_season("Ov A", active=False)
	make_season("Ov B", active=False)
	runtime.db().sql("update `tabMemora Season` set archive_status = 'Archived' where name = 'Ov A'")
	runtime.db().commit()
	assert overview.seasons() == ["Ov B"]
	assert set(overview.seasons(include_archived=True)) == {"Ov A", "Ov B"}


def test_creators_by_fans_lists_the_busiest_creators_first():
	from memora.services.user_memory_service import get_user_memory_service

	service = get_user_memory_service()
	for creator, fans in (("ov-small", 1), ("ov-big", 3)):
		for n in range(fans):
			service.save_interaction({"fan_id": f"fan{n}", "creator_id": creator, "type": "like"})
	assert overview.creators_by_fans(10) == ["ov-big", "ov-small"]
	assert overview.creators_by_fans(1) == ["ov-big"]
