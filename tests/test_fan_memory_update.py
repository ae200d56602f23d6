"""One interaction folded into a pair's row: every part of the row moves, from the right inputs, and
`modified` never goes back."""

from datetime import datetime, timedelta

import pytest

from memora import runtime
from memora.runtime.config import _typed_settings
from memora.services.fan_memory import decay, emotion, engagement, personality, preferences, update
from memora.services.fan_memory.events import Interaction

pytestmark = pytest.mark.unit

SETTINGS = _typed_settings({"engagement_half_life_days": 7, "emotion_half_life_hours": 12})
NOW = 1_800_000_000.0


def event(kind: str, ts: float, **fields) -> Interaction:
	return Interaction("fan-1", "creator-1", kind, ts, f"{kind}-{ts}", **fields)


def test_a_new_pair_starts_from_the_doctype_defaults():
	row = update.blank_row("fan-1", "creator-1")
	assert row["calibrated"] == 0 and row["engagement_score"] == engagement.PRIOR
	assert row["message_count"] == row["tip_count"] == 0 and row["first_interaction"] is None


def test_modified_only_moves_forward():
	then = datetime(2027, 1, 1, 12)
	assert update.next_modified(None, then) == then
	assert update.next_modified(then, then + timedelta(seconds=1)) == then + timedelta(seconds=1)
	assert update.next_modified(then, then) == then + update.MICROSECOND
	assert update.next_modified(then, then - timedelta(hours=1)) == then + update.MICROSECOND
	future = update.blank_row("fan-1", "creator-1") | {"modified": runtime.now() + timedelta(days=1)}
	assert update.apply(future, event("view", NOW), None, SETTINGS)["modified"] == future["modified"] + (
		update.MICROSECOND
	)


def test_first_interaction_is_the_earliest_seen():
	first = update.apply(None, event("view", NOW), None, SETTINGS)
	assert first["first_interaction"] == runtime.from_ts(NOW)
	later = update.apply(first, event("like", NOW + 60), None, SETTINGS)
	assert later["first_interaction"] == runtime.from_ts(NOW)
	earlier = update.apply(later, event("like", NOW - 60), None, SETTINGS)
	assert earlier["first_interaction"] == runtime.from_ts(NOW - 60)


def test_score_and_spend_are_stored_at_the_columns_nine_decimals():
	row = update.apply(None, event("tip", NOW, amount=7.0), None, SETTINGS)
	expected, _ = engagement.record(engagement.PRIOR, None, NOW, engagement.weight("tip", 7.0), 7 * decay.DAY)
	assert row["engagement_score"] == round(expected, 9) != expected
	row = update.apply(row, event("purchase", NOW + 1, amount=1.2345678901), None, SETTINGS)
	assert row["total_spent"] == 8.23456789 and row["tip_count"] == row["purchase_count"] == 1


def test_each_part_of_the_row_is_built_from_the_previous_one_and_this_event():
	"""Two messages with sentiment: mood, preferences and personality each fold the second message into
	what the first left, with the event's own time, content, metadata and the settings' half-lives."""
	first = event("message", NOW, content="I love the jazz night", metadata={"category": "music"})
	second = event("purchase", NOW + 3600, content="more jazz please", amount=20.0, metadata={"tag": "vinyl"})
	row = update.apply(None, first, 0.6, SETTINGS)
	after = update.apply(row, second, -0.4, SETTINGS)

	assert after["emotional_state"] == emotion.record(
		row["emotional_state"], -0.4, second.ts, SETTINGS.emotion_half_life_hours * decay.HOUR
	)
	assert after["preferences"] == preferences.record(
		row["preferences"], "purchase", second.ts, 7 * decay.DAY, second.metadata, second.content, 20.0
	)
	assert after["personality_profile"] == personality.record(
		row["personality_profile"], "purchase", second.ts, second.content
	)
	assert (
		update.apply(after, event("view", NOW + 7200), None, SETTINGS)["emotional_state"]
		== (after["emotional_state"])
	), "an event without sentiment leaves the mood as it was"
