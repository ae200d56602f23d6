"""The MemoryContext handed to the assistant, built from a pair's Fan Memory row and recent messages.

Shape (the TypeScript service's, in snake_case): fan_id, creator_id, recent_messages,
personality_profile, preferences, emotional_state, engagement_metrics, last_interaction, plus
`degraded`, true when part of it could not be read and defaults stand in.
"""

from __future__ import annotations

from datetime import datetime

from memora import runtime
from memora.runtime import Settings
from memora.services.fan_memory import decay, emotion, engagement, personality, preferences
from memora.services.fan_memory.update import COUNTERS, blank_row


def _iso(value: datetime | None) -> str | None:
	return value.isoformat() if value else None


def message(row: dict) -> dict:
	"""A ConversationMessage."""
	return {
		"id": row["name"],
		"content": row["content"],
		"timestamp": _iso(row["timestamp"]),
		"sentiment": row["sentiment"],
		"metadata": row["metadata"],
	}


def _last_ts(row: dict) -> float | None:
	return runtime.to_ts(row["last_interaction"]) if row["last_interaction"] else None


def engagement_score(row: dict, now: float, half_life: float) -> float:
	"""The row's engagement score as of `now`."""
	return round(engagement.current(row["engagement_score"], _last_ts(row), now, half_life), 6)


def engagement_metrics(row: dict, now: float, half_life: float) -> dict:
	last_ts = _last_ts(row)
	return {
		"engagement_score": engagement_score(row, now, half_life),
		"recency": round(engagement.recency(last_ts, now, half_life), 6),
		"days_since_last_interaction": round((now - last_ts) / decay.DAY, 3) if last_ts else None,
		**{counter: row[counter] for counter in COUNTERS.values()},
		"total_interactions": sum(row[counter] for counter in COUNTERS.values()),
		"total_spent": round(float(row["total_spent"]), 2),
		"first_interaction": _iso(row["first_interaction"]),
		"last_interaction": _iso(row["last_interaction"]),
	}


def build(
	fan_id: str,
	creator_id: str,
	row: dict | None,
	messages: list[dict],
	now: float,
	settings: Settings,
	degraded: bool = False,
) -> dict:
	"""The context as of `now`; a pair without a row gets the defaults of a new fan."""
	row = row or blank_row(fan_id, creator_id)
	half_life = settings.engagement_half_life_days * decay.DAY
	return {
		"fan_id": fan_id,
		"creator_id": creator_id,
		"recent_messages": [message(m) for m in messages],
		"personality_profile": personality.view(
			row["personality_profile"], settings.calibration_min_messages
		),
		"preferences": preferences.view(row["preferences"], now, half_life),
		"emotional_state": emotion.view(
			row["emotional_state"], now, settings.emotion_half_life_hours * decay.HOUR
		),
		"engagement_metrics": engagement_metrics(row, now, half_life),
		"last_interaction": _iso(row["last_interaction"]),
		"degraded": degraded,
	}
