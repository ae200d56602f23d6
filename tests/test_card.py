"""A card's state and names, without any server: the record every SRS module passes around."""

from __future__ import annotations

import re
from typing import get_type_hints

import pytest
from redis.crc import key_slot

from memora.services.srs import card, keys

pytestmark = pytest.mark.unit

PLAYER, SEASON = "ana@example.com", "2025-2026"


def test_the_card_state_holds_every_memory_column_of_the_tracker():
	fields = set(get_type_hints(card.CardState))
	assert set(card.MEMORY_COLUMNS) <= fields
	# What a state holds that the row keeps under another name, or not at all.
	renamed = {"last_review_id", "last_review_date", "next_review_date"}
	assert set(card.STATE_COLUMNS) - renamed <= fields
	assert {"review_id", "reviewed_at", "next_review_ts"} <= fields


def test_card_states_are_the_state_field_options():
	assert card.CARD_STATES[0] == "New"
	assert {"Learning", "Review", "Relearning"} <= set(card.CARD_STATES)


def test_a_card_always_maps_to_the_same_row_and_no_other_card_does():
	name = card.tracker_name(PLAYER, SEASON, "q1")
	assert re.fullmatch(r"[0-9a-f]{20}", name)
	assert name == card.tracker_name(PLAYER, SEASON, "q1")
	assert name != card.tracker_name(PLAYER, SEASON, "q2")
	# The separator keeps ("a", "bc") and ("ab", "c") apart.
	assert card.tracker_name("a", "bc", "q") != card.tracker_name("ab", "c", "q")


def test_a_review_sent_twice_gets_one_id_and_another_review_another():
	first = card.derived_review_id(PLAYER, SEASON, "q1", "1700000000123456")
	assert first.startswith("srs-") and len(first) == 36
	assert first == card.derived_review_id(PLAYER, SEASON, "q1", "1700000000123456")
	assert first != card.derived_review_id(PLAYER, SEASON, "q1", "1700000000123457")
	assert first != card.derived_review_id(PLAYER, "2026-2027", "q1", "1700000000123456")


def test_a_seasons_player_sets_spread_players_over_shards_of_their_own_slots():
	players = [f"p{n}@example.com" for n in range(200)]
	grouped = keys.season_player_sets(SEASON, players)
	assert set(grouped) == set(keys.season_players_keys(SEASON))
	assert sorted(p for members in grouped.values() for p in members) == sorted(players)
	assert len({key_slot(k.encode()) for k in keys.season_players_keys(SEASON)}) == keys.SEASON_PLAYER_SHARDS
	assert keys.season_player_set(SEASON, PLAYER) not in keys.season_players_keys("2026-2027")


def test_a_players_keys_share_one_hash_tag_and_seasons_stay_apart():
	tagged = [key(PLAYER, SEASON) for key in (keys.queue_key, keys.pending_key, keys.empty_marker_key)]
	tags = {re.search(r"\{[^}]*\}", key).group(0) for key in tagged}
	assert len(tags) == 1
	assert keys.queue_key(PLAYER, SEASON) != keys.queue_key(PLAYER, "2026-2027")
	assert set(keys.player_keys(PLAYER, SEASON)) >= set(tagged)
