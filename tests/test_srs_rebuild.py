"""rebuild_season_cache: keyset pages across players, authoritative per player (rows overlaid with
pending reviews, nothing else), progress, safe to re-run."""

import time
from datetime import datetime

import pytest

from memora.exceptions import ValidationError
from memora.services.srs import keys, pending, queue_sync, trackers
from memora.services.srs.rebuild import rebuild_season_cache
from tests.srs_data import SEASON, insert_trackers

PLAYERS = [f"p{i}@example.com" for i in range(5)]


def load(now: float) -> dict[str, dict[str, float | None]]:
	decks = {}
	for n, player in enumerate(PLAYERS):
		# Equal dates across questions, and a dateless card, exercise every branch of the seek.
		deck = {f"q{q:02d}": now + (q // 3) * 60 for q in range(10 + n)}
		deck["q-undated"] = None
		insert_trackers(player, SEASON, deck)
		decks[player] = deck
	insert_trackers("p0@example.com", "Other Season", {"x1": now})
	return decks


def test_rebuild_streams_every_tracker_into_its_queue(redis_client):
	now = round(time.time())
	decks = load(now)
	progress = []
	result = rebuild_season_cache(
		SEASON, batch_size=7, progress=lambda done, total: progress.append((done, total))
	)
	total = sum(len(d) for d in decks.values())
	assert result == {"total_records": total, "total_users": 5, "total_keys": 5, "status": "completed"}
	for player, deck in decks.items():
		stored = dict(redis_client.zrange(keys.queue_key(player, SEASON), 0, -1, withscores=True))
		assert stored == {qid: ts if ts is not None else 0.0 for qid, ts in deck.items()}
	assert not redis_client.exists(keys.queue_key("p0@example.com", "Other Season"))
	assert set(queue_sync.season_players(SEASON, 100)) == set(PLAYERS)
	# Reported after each page's whole players: rising, never past the total, ending at it.
	done = [done for done, _ in progress]
	assert done == sorted(set(done)) and done[-1] == total and len(done) > 1
	assert progress[-1] == (total, total)


def test_rebuild_corrects_every_queue_to_rows_and_pending(redis_client):
	now = round(time.time())
	decks = load(now)
	first = rebuild_season_cache(SEASON, batch_size=4)
	p1 = keys.queue_key("p1@example.com", SEASON)
	# Drift no row or pending review explains: a moved score and a card without a row.
	redis_client.zadd(p1, {"q00": now + 86400, "q-ghost": now})
	# An answer accepted but not yet persisted, in a queue that was lost.
	pipe = redis_client.pipeline()
	pending.record(
		pipe,
		"p2@example.com",
		SEASON,
		[{"question_id": "q01", "review_id": "r", "reviewed_at": now, "next_review_ts": now + 999}],
	)
	pipe.execute()
	redis_client.delete(keys.queue_key("p2@example.com", SEASON))
	# A queue whose player has no rows left at all.
	redis_client.zadd(keys.queue_key("gone@example.com", SEASON), {"q1": now})
	redis_client.sadd(keys.season_player_set(SEASON, "gone@example.com"), "gone@example.com")

	again = rebuild_season_cache(SEASON, batch_size=4)
	assert again == first
	assert dict(redis_client.zrange(p1, 0, -1, withscores=True)) == {
		qid: ts if ts is not None else 0.0 for qid, ts in decks["p1@example.com"].items()
	}
	assert redis_client.zscore(keys.queue_key("p2@example.com", SEASON), "q01") == now + 999
	assert not redis_client.exists(keys.queue_key("gone@example.com", SEASON))
	assert redis_client.exists(keys.empty_marker_key("gone@example.com", SEASON))


def test_keyset_pages_cover_the_season_once_in_index_order():
	now = round(time.time())
	load(now)
	seen, after = [], None
	while page := trackers.season_page(SEASON, after, 3):
		seen.extend(page)
		after = page[-1]
	keys = [(r.player, r.next_review_date is not None, r.next_review_date, r.question_id) for r in seen]
	assert len(seen) == trackers.season_count(SEASON) == len(set(keys))
	assert keys == sorted(keys, key=lambda k: (k[0], k[1], k[2] or datetime.min, k[3]))


@pytest.mark.fault
def test_rebuild_reports_failure_when_redis_is_down(throwaway_redis, monkeypatch):
	load(round(time.time()))
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	throwaway_redis.stop()
	result = rebuild_season_cache(SEASON)
	assert result["status"] == "failed" and result["error"]


def test_rebuild_refuses_a_hostile_season_name():
	with pytest.raises(ValidationError) as error:
		rebuild_season_cache("x'; drop table t; --")
	assert error.value.field == "season_name"
