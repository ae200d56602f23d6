"""Personality profile: how a fan communicates, from their messages and when they are active.

Running totals, so each interaction costs the same however long the history:

	avg_message_length        characters per message; style concise (< 40), verbose (> 200), else balanced
	question_rate             share of messages with a question mark (trait "inquisitive" from 0.3)
	emoji_rate                share of messages with an emoji (trait "expressive" from 0.3)
	active_hours              the hours of day (system time zone) with most interactions of any kind
	response_cadence_seconds  geometric mean of the gaps between messages less than SESSION_GAP
	                          apart: the rhythm of a conversation; a longer gap starts a new session

confidence = 1 - exp(-3 n / m) for n messages and m = calibration_min_messages (0.95 at n = m);
the profile is `calibrated` once n >= m.
"""

from __future__ import annotations

import math
import re

from memora import runtime

EMOJI_RE = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff]")
SESSION_GAP = 1800.0
CONCISE_BELOW = 40
VERBOSE_ABOVE = 200
TRAIT_RATE = 0.3
ACTIVE_HOURS = 3


def empty() -> dict:
	return {
		"messages": 0,
		"chars": 0,
		"questions": 0,
		"emoji_messages": 0,
		"emojis": 0,
		"hours": [0] * 24,
		"sessions": 0,
		"gaps": 0,
		"log_gap_sum": 0.0,
		"last_message": None,
	}


def record(state: dict | None, interaction_type: str, ts: float, content: str | None = None) -> dict:
	"""The state after one more interaction; only messages carry style signals."""
	state = {**empty(), **(state or {})}
	hours = list(state["hours"])
	hours[runtime.from_ts(ts).hour] += 1
	state["hours"] = hours
	if interaction_type != "message" or content is None:
		return state
	emojis = len(EMOJI_RE.findall(content))
	state["messages"] += 1
	state["chars"] += len(content)
	state["questions"] += "?" in content
	state["emoji_messages"] += emojis > 0
	state["emojis"] += emojis
	last = state["last_message"]
	if last is None or ts - last > SESSION_GAP:
		state["sessions"] += 1
	elif ts > last:
		state["gaps"] += 1
		state["log_gap_sum"] += math.log(ts - last)
	if last is None or ts > last:
		state["last_message"] = ts
	return state


def confidence(messages: int, min_messages: int) -> float:
	return 1.0 - math.exp(-3.0 * messages / max(min_messages, 1))


def is_calibrated(state: dict | None, min_messages: int) -> bool:
	return bool(state) and state["messages"] >= min_messages


def _style(avg_length: float) -> str:
	if avg_length < CONCISE_BELOW:
		return "concise"
	if avg_length > VERBOSE_ABOVE:
		return "verbose"
	return "balanced"


def _share(count: int, total: int) -> float:
	return round(count / total, 4) if total else 0.0


def view(state: dict | None, min_messages: int) -> dict:
	"""The profile the assistant sees, with how far to trust it."""
	state = {**empty(), **(state or {})}
	n = state["messages"]
	avg_length = state["chars"] / n if n else 0.0
	hours = sorted((h for h in range(24) if state["hours"][h]), key=lambda h: (-state["hours"][h], h))
	traits = [
		trait
		for trait, count in (("inquisitive", state["questions"]), ("expressive", state["emoji_messages"]))
		if n and count / n >= TRAIT_RATE
	]
	return {
		"communication_style": _style(avg_length) if n else None,
		"avg_message_length": round(avg_length, 1),
		"question_rate": _share(state["questions"], n),
		"emoji_rate": _share(state["emoji_messages"], n),
		"emojis_per_message": _share(state["emojis"], n),
		"active_hours": hours[:ACTIVE_HOURS],
		"response_cadence_seconds": (
			round(math.exp(state["log_gap_sum"] / state["gaps"]), 1) if state["gaps"] else None
		),
		"sessions": state["sessions"],
		"traits": traits,
		"message_count": n,
		"confidence": round(confidence(n, min_messages), 4),
		"calibrated": n >= min_messages,
	}
