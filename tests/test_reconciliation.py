"""Reconciliation on real MariaDB and Redis: each kind of drift repaired and counted, pending reviews
never reverted, the full run's summary, audit rows and alerts."""

from __future__ import annotations

import json
import logging

import pytest

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import metrics_report
from memora.services.srs import keys, pending, persistence, reconciliation, reconciliation_runs
from memora.tests.cards import card
from tests.harness.figures import Moved
from tests.harness.logs import logged
from tests.reconciliation_fixtures import (
	DAY,
	add_season,
	add_trackers,
	audit_rows,
	cache,
	queue,
	record_pending,
)

P1, P2, SEASON = "p1@x.com", "p2@x.com", "S1"


def schedule(count: int, start: float | None = None, prefix: str = "q") -> dict[str, float]:
	"""Whole-second times, so scores read back from datetime(6) compare equal."""
	base = float(int(start or runtime.now_ts()))
	return {f"{prefix}{i:03d}": base + i * 3600 for i in range(count)}


@pytest.fixture
def season():
	add_season(SEASON)
	return SEASON


def corrections(**counts: int) -> dict[str, int]:
	return {**dict.fromkeys(reconciliation.KINDS, 0), **counts}


def test_in_step_queue_needs_nothing(season):
	cards = schedule(5)
	add_trackers(P1, season, cards)
	cache(P1, season, cards)
	result = reconciliation.reconcile_user_season(P1, season)
	assert result["corrections"] == corrections()
	assert (result["items_checked"], result["discrepancy_rate"]) == (5, 0.0)
	assert audit_rows(reconciliation.PLAYER_OPERATION) == []


def test_missing_ghost_and_stale_are_repaired_and_counted(season, caplog):
	caplog.set_level(logging.INFO, logger="memora")
	cards = schedule(10)
	add_trackers(P1, season, cards)
	drifted = {**cards, "ghost-1": cards["q000"], "q002": cards["q002"] + 7 * DAY}
	del drifted["q001"]
	cache(P1, season, drifted)

	result = reconciliation.reconcile_user_season(P1, season)

	assert result["corrections"] == corrections(missing=1, ghost=1, stale=1)
	assert result["items_checked"] == 11
	assert result["discrepancy_rate"] == pytest.approx(100 * 3 / 11, rel=1e-5)
	assert queue(P1, season) == cards
	[row] = audit_rows(reconciliation.PLAYER_OPERATION)
	assert (row["player"], row["status"], row["row_count"]) == (P1, "Correction", 3)
	assert row["correlation_id"] == result["correlation_id"]
	assert json.loads(row["details"]) == {
		"counts": {"missing": 1, "stale": 1, "ghost": 1},
		"question_ids": {"missing": ["q001"], "stale": ["q002"], "ghost": ["ghost-1"]},
		"skipped": 0,
	}
	assert logged(caplog, "reconciliation.corrected") == [
		{"player": P1, "season": season, "missing": 1, "stale": 1, "ghost": 1, "level": "INFO"}
	]


def test_lost_key_of_active_player_is_rebuilt_whole(season):
	cards = schedule(4)
	add_trackers(P1, season, cards)
	client = runtime.redis_client()
	client.set(keys.empty_marker_key(P1, season), 1)

	result = reconciliation.reconcile_user_season(P1, season)

	assert result["corrections"] == corrections(key_rebuilt=4)
	assert result["keys_rebuilt"] == 1
	assert queue(P1, season) == cards
	assert 0 < client.ttl(keys.queue_key(P1, season)) <= runtime.settings().srs_cache_ttl_days * DAY
	assert client.sismember(keys.season_player_set(season, P1), P1)
	assert not client.exists(keys.empty_marker_key(P1, season))


def test_expired_key_of_idle_player_is_restored_without_counting_drift(season):
	cards = schedule(4)
	add_trackers(P1, season, cards, reviewed_at=runtime.now_ts() - 90 * DAY)
	result = reconciliation.reconcile_user_season(P1, season)
	assert result["corrections"] == corrections()
	assert (result["keys_restored"], result["keys_rebuilt"], result["discrepancies"]) == (1, 0, 0)
	assert queue(P1, season) == cards
	assert runtime.redis_client().sismember(keys.season_player_set(season, P1), P1)


def test_one_repair_of_many_players_counts_each_and_audits_each(season):
	"""Two idle players' expired keys are restored, two active players' lost keys rebuilt, a third active
	player's stale card corrected: in one pass, each counted once, none skipped after another."""
	now = runtime.now_ts()
	idle, active = ["idle-1@x.com", "idle-2@x.com"], ["active-1@x.com", "active-2@x.com"]
	for player in idle:
		add_trackers(player, season, schedule(2, now), reviewed_at=now - 90 * DAY)
	for player in active:
		add_trackers(player, season, schedule(3, now))
	add_trackers(P2, season, schedule(2, now))
	cache(P2, season, {**schedule(2, now), "q001": schedule(2, now)["q001"] + DAY})

	tally = reconciliation.repair(season, [*idle, *active, P2])

	assert (tally.players_checked, tally.items_checked) == (5, 12)
	assert (tally.keys_restored, tally.keys_rebuilt) == (2, 2)
	assert dict(tally.corrections) == corrections(key_rebuilt=6, stale=1)
	assert all(queue(player, season) == schedule(2 if player in idle else 3, now) for player in idle + active)
	rows = audit_rows(reconciliation.PLAYER_OPERATION)
	assert [(row["player"], row["season"], row["row_count"]) for row in rows] == [
		("active-1@x.com", season, 3),
		("active-2@x.com", season, 3),
		(P2, season, 1),
	]
	assert all('"skipped": 0' in row["details"] for row in rows)


def test_the_reply_names_the_player_and_how_long_it_took(season):
	add_trackers(P1, season, schedule(2))
	moved = Moved()
	result = reconciliation.reconcile_user_season(P1, season)
	assert (result["user"], result["season"]) == (P1, season)
	assert isinstance(result["duration_s"], float) and 0 <= result["duration_s"] < 60
	assert result["duration_s"] == round(result["duration_s"], 3)
	assert moved.after().calls("reconciliation.player") == 1


@pytest.mark.unit
def test_a_score_off_by_the_tolerance_is_not_drift():
	tolerance = reconciliation.SCORE_TOLERANCE
	drift = reconciliation.compare(
		{"a": 100.0, "b": 100.0}, {"a": 100.0 + tolerance, "b": 100.0 + 2 * tolerance}
	)
	assert (drift.stale, drift.checked) == ({"b": (100.0 + 2 * tolerance, 100.0)}, 2)


def test_pending_reviews_are_never_reverted(season):
	cards = schedule(3)
	add_trackers(P1, season, cards)
	cache(P1, season, cards)
	# Answered, accepted, not yet persisted: one card moved, one card new to MariaDB.
	record_pending(P1, season, "q001", "r-new", cards["q001"] + 9 * DAY)
	record_pending(P1, season, "q-new", "r-first", cards["q000"] + DAY)

	result = reconciliation.reconcile_user_season(P1, season)

	assert result["corrections"] == corrections()
	assert queue(P1, season) == {**cards, "q001": cards["q001"] + 9 * DAY, "q-new": cards["q000"] + DAY}


def test_lost_key_is_rebuilt_with_pending_states_overlaid(season):
	cards = schedule(3)
	add_trackers(P1, season, cards, reviewed_at=runtime.now_ts() - 90 * DAY)
	record_pending(P1, season, "q002", "r-late", cards["q002"] + 5 * DAY)
	runtime.redis_client().delete(keys.queue_key(P1, season))

	result = reconciliation.reconcile_user_season(P1, season)

	# Idle by MariaDB's dates, but the pending review proves the set existed: rebuilt, pending kept.
	assert result["corrections"] == corrections(key_rebuilt=3)
	assert queue(P1, season) == {**cards, "q002": cards["q002"] + 5 * DAY}


def test_review_accepted_after_the_read_wins_over_the_repair(season):
	cards = schedule(2)
	add_trackers(P1, season, cards)
	cache(P1, season, {"q000": cards["q000"] + DAY, "q001": cards["q001"]})
	plan = reconciliation.Plan(
		P1, reconciliation.compare(cards, queue(P1, season)), key_missing=False, has_pending=False
	)
	assert plan.drift.stale  # q000 would be reset to MariaDB's time...
	record_pending(P1, season, "q000", "r-racing", cards["q000"] + 3 * DAY)  # ...but a review lands first

	[(added, updated, removed, created)] = reconciliation.apply(season, [plan])

	assert (added, updated, removed, created) == ([], [], [], 0)
	assert queue(P1, season)["q000"] == cards["q000"] + 3 * DAY


@pytest.mark.parametrize("race", ["answered", "rescored"])
def test_a_ghost_touched_after_the_read_is_not_removed(season, race):
	"""The reconciler reads a member without a row (a ghost), then, before its repair, the card is
	answered (a pending first review) or moved by another writer: the removal must give up."""
	cards = schedule(1)
	add_trackers(P1, season, cards)
	cache(P1, season, {**cards, "q-new": runtime.now_ts()})
	plan = reconciliation.Plan(
		P1, reconciliation.compare(cards, queue(P1, season)), key_missing=False, has_pending=False
	)
	assert list(plan.drift.ghost) == ["q-new"]
	if race == "answered":
		record_pending(P1, season, "q-new", "r-first", runtime.now_ts() + DAY)
	else:
		cache(P1, season, {"q-new": runtime.now_ts() + 2 * DAY})

	[(added, updated, removed, created)] = reconciliation.apply(season, [plan])

	assert (added, updated, removed, created) == ([], [], [], 0)
	assert "q-new" in queue(P1, season)


def test_ghost_that_is_a_pending_first_review_is_kept(season):
	cards = schedule(1)
	add_trackers(P1, season, cards)
	cache(P1, season, cards)
	record_pending(P1, season, "q-brand-new", "r-1", runtime.now_ts() + DAY)
	result = reconciliation.reconcile_user_season(P1, season)
	assert result["corrections"] == corrections()
	assert "q-brand-new" in queue(P1, season)


def test_full_run_across_pages_repairs_every_kind(season):
	add_season("Old", active=False)
	big = schedule(12, prefix="b")  # more cards than a page
	add_trackers("a-big@x.com", season, big)
	cache("a-big@x.com", season, {k: v for k, v in big.items() if k != "b011"})
	for i in range(6):
		cards = schedule(3)
		add_trackers(f"p{i}@x.com", season, cards)
		cache(f"p{i}@x.com", season, cards)
	cache("p1@x.com", season, {"q000": runtime.now_ts() + 30 * DAY})  # stale
	cache("p2@x.com", season, {"ghost": runtime.now_ts()})  # ghost
	runtime.redis_client().delete(keys.queue_key("p3@x.com", season))  # lost set
	cache("z-only-ghosts@x.com", season, {"g1": 1.0, "g2": 2.0})  # a set and no tracker at all
	add_trackers("old@x.com", "Old", schedule(2))  # inactive season: not reconciled by default

	with runtime.override_settings(reconciliation_batch_size=5):
		summary = reconciliation_runs.reconcile_cache_with_database()

	assert summary["status"] == "completed"
	assert summary["corrections"] == corrections(missing=1, stale=1, ghost=3, key_rebuilt=3)
	assert (summary["players_checked"], summary["items_checked"]) == (8, 12 + 18 + 1 + 2)
	assert summary["keys_rebuilt"] == 1
	assert list(summary["seasons"]) == [season]
	assert queue("a-big@x.com", season) == big
	assert queue("z-only-ghosts@x.com", season) == {}
	assert queue("old@x.com", "Old") == {}
	assert reconciliation_runs.last_summary() == summary
	assert reconciliation_runs.last_summary(season)["corrections"] == summary["corrections"]
	players = [row["player"] for row in audit_rows(reconciliation.PLAYER_OPERATION)]
	assert players == ["a-big@x.com", "p1@x.com", "p2@x.com", "p3@x.com", "z-only-ghosts@x.com"]
	[run] = audit_rows(reconciliation_runs.RUN_OPERATION)
	assert (run["status"], run["row_count"], run["correlation_id"]) == (
		"Correction",
		8,
		summary["correlation_id"],
	)


def test_second_run_finds_nothing(season):
	cards = schedule(4)
	add_trackers(P1, season, cards)
	cache(P1, season, {**cards, "ghost": 5.0})
	assert reconciliation_runs.reconcile_cache_with_database(season)["discrepancies"] == 1
	again = reconciliation_runs.reconcile_cache_with_database(season)
	assert (again["discrepancies"], again["items_checked"]) == (0, 4)


def run_with_one_wrong_item_in_100(threshold: float, caplog) -> dict:
	cards = schedule(100)
	add_trackers(P1, SEASON, cards)
	cache(P1, SEASON, {**cards, "q050": cards["q050"] + DAY})
	with runtime.override_settings(reconciliation_alert_threshold=threshold), caplog.at_level(logging.ERROR):
		return reconciliation_runs.reconcile_cache_with_database()


def test_alert_above_threshold(season, caplog):
	summary = run_with_one_wrong_item_in_100(0.5, caplog)  # 1% > 0.5%
	assert summary["discrepancy_rate"] == pytest.approx(1.0)
	assert summary["alerted_seasons"] == [season]
	assert "disagreed above 0.5% in S1" in caplog.text
	assert summary["correlation_id"] in caplog.text


@pytest.mark.parametrize("threshold", [1.0, 5.0])
def test_no_alert_at_or_below_threshold(season, caplog, threshold):
	summary = run_with_one_wrong_item_in_100(threshold, caplog)
	assert summary["alerted_seasons"] == []
	assert "disagreed" not in caplog.text


def test_a_run_already_in_progress_is_not_doubled(season):
	lock = runtime.redis_client().lock(runtime.key("reconciliation", "lock"), timeout=30)
	assert lock.acquire(blocking=False)
	try:
		assert reconciliation_runs.reconcile_cache_with_database()["status"] == "skipped"
	finally:
		lock.release()
	assert reconciliation_runs.reconcile_cache_with_database()["status"] == "completed"


def test_reconciliation_moves_the_metrics(season):
	before = metrics_report.snapshot()["reconciliation"]
	cards = schedule(4)
	add_trackers(P1, season, cards)
	cache(P1, season, {**cards, "ghost-1": 1.0, "ghost-2": 2.0})
	reconciliation_runs.reconcile_cache_with_database()
	after = metrics_report.snapshot()
	assert after["reconciliation"]["items_checked"] - before["items_checked"] == 6
	assert after["reconciliation"]["corrections"]["ghost"] - before["corrections"].get("ghost", 0) == 2
	assert after["reconciliation"]["last_discrepancy_rate"][season] == pytest.approx(100 * 2 / 6)
	assert after["operations"]["reconciliation.run"]["calls"] >= 1


@pytest.mark.parametrize(
	("user", "season_name", "field"),
	[
		("", SEASON, "user"),
		(P1, None, "season"),
		(P1, "S1'; drop table x; --", "season"),
		(P1, "No Such Season", "season"),
	],
)
def test_bad_input_is_refused_naming_the_field(season, user, season_name, field):
	with pytest.raises(ValidationError) as error:
		reconciliation.reconcile_user_season(user, season_name)
	assert error.value.field == field


def test_season_name_is_matched_as_mariadb_spells_it(season):
	add_trackers(P1, season, schedule(2))
	assert reconciliation.reconcile_user_season(P1, "s1")["season"] == SEASON


def test_review_persisted_between_stream_and_repair_is_not_reverted(season):
	cards = schedule(2)
	add_trackers(P1, season, cards)
	cache(P1, season, cards)
	record_pending(P1, season, "q000", "r-9", cards["q000"] + 4 * DAY)
	# The stream read the old row: the set looks stale...
	_, differing = reconciliation_runs.detect(season, [(P1, cards)])
	assert differing == [P1]
	# ...then the persistence job commits the review and clears its pending state.
	runtime.db().sql(
		"update `tabPlayer Memory Tracker` set next_review_date = %s where question_id = 'q000'",
		(runtime.from_ts(cards["q000"] + 4 * DAY),),
	)
	runtime.db().commit()
	runtime.redis_client().delete(keys.pending_key(P1, season))

	tally = reconciliation.repair(season, differing)

	assert tally.discrepancies == 0
	assert queue(P1, season)["q000"] == cards["q000"] + 4 * DAY


def test_an_unwritten_batch_the_pending_hash_lost_is_put_back_not_reverted(season):
	"""A cache clear empties the pending hash while the answer's batch still waits on the job queue:
	the repair puts the answer back from the batch before comparing (`in_flight`), so the queue keeps it."""
	cards = schedule(2)
	add_trackers(P1, season, cards)
	answered = card("q000", "r-9", cards["q000"], next_review_ts=cards["q000"] + 4 * DAY)
	persistence.queue_review_batch([answered], P1, season)  # no worker runs it
	cache(P1, season, {**cards, "q000": answered["next_review_ts"]})

	tally = reconciliation.repair(season, [P1])

	assert tally.discrepancies == 0
	assert queue(P1, season)["q000"] == cards["q000"] + 4 * DAY
	assert pending.get_all(P1, season)["q000"]["review_id"] == "r-9"
