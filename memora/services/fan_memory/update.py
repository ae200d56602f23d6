"""One interaction folded into a pair's Fan Memory row: counters, engagement, emotion, preferences,
personality. Pure: the caller reads the row under a lock and writes the result in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from memora import runtime
from memora.runtime import Settings
from memora.services.fan_memory import decay, emotion, engagement, personality, preferences
from memora.services.fan_memory.events import Interaction

COUNTERS = {
	"message": "message_count",
	"purchase": "purchase_count",
	"tip": "tip_count",
	"like": "like_count",
	"view": "view_count",
}
MICROSECOND = timedelta(microseconds=1)


def blank_row(fan_id: str, creator_id: str) -> dict:
	"""A pair with no interactions yet (the DocType's defaults)."""
	return {
		"fan_id": fan_id,
		"creator_id": creator_id,
		"calibrated": 0,
		"engagement_score": engagement.PRIOR,
		**dict.fromkeys(COUNTERS.values(), 0),
		"total_spent": 0.0,
		"first_interaction": None,
		"last_interaction": None,
		"personality_profile": None,
		"preferences": None,
		"emotional_state": None,
		"modified": None,
	}


def next_modified(previous: datetime | None, now: datetime) -> datetime:
	"""`modified` only moves forward, even if the clock steps back: it versions the cached copies."""
	return now if previous is None or now > previous else previous + MICROSECOND


def apply(row: dict | None, event: Interaction, sentiment: float | None, settings: Settings) -> dict:
	"""The row after `event` (a new row for the pair's first interaction)."""
	new = dict(row) if row else blank_row(event.fan_id, event.creator_id)
	half_life = settings.engagement_half_life_days * decay.DAY
	last_ts = runtime.to_ts(new["last_interaction"]) if new["last_interaction"] else None
	score, latest = engagement.record(
		new["engagement_score"],
		last_ts,
		event.ts,
		engagement.weight(event.type, event.amount),
		half_life,
	)
	happened = runtime.from_ts(event.ts)
	new["engagement_score"] = round(score, 9)
	new["last_interaction"] = runtime.from_ts(latest)
	first = new["first_interaction"]
	new["first_interaction"] = min(first, happened) if first else happened
	new[COUNTERS[event.type]] += 1
	new["total_spent"] = round(float(new["total_spent"]) + (event.amount or 0.0), 9)
	if sentiment is not None:
		new["emotional_state"] = emotion.record(
			new["emotional_state"], sentiment, event.ts, settings.emotion_half_life_hours * decay.HOUR
		)
	new["preferences"] = preferences.record(
		new["preferences"], event.type, event.ts, half_life, event.metadata, event.content, event.amount
	)
	new["personality_profile"] = personality.record(
		new["personality_profile"], event.type, event.ts, event.content
	)
	new["calibrated"] = int(
		personality.is_calibrated(new["personality_profile"], settings.calibration_min_messages)
	)
	new["modified"] = next_modified(new["modified"], runtime.now())
	return new
