"""Emotional state: the fan's mood from the VADER sentiment of their messages, fading with time.

Each message gets VADER's compound score c in [-1, 1]. Two decayed means of c are kept, a short
one (the emotion half-life) and a long one (LONG_HORIZON times as long):

	mood = S / (W + 1)        S = sum of c * decay, W = sum of decay

The 1 is one neutral pseudo-message: a single message cannot claim a strong mood, and as W decays
in silence the mood fades back to neutral (0).

	label  positive when the short mood >= 0.05, negative when <= -0.05 (VADER's thresholds)
	trend  short mood - long mood: improving above 0.1, declining below -0.1, else stable
"""

from __future__ import annotations

from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from memora.services.fan_memory import decay

LONG_HORIZON = 4.0
NEUTRAL_WEIGHT = 1.0
LABEL_THRESHOLD = 0.05
TREND_THRESHOLD = 0.1


@cache
def analyzer() -> SentimentIntensityAnalyzer:
	"""Loads VADER's lexicon once per process."""
	return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
	"""VADER compound score of a message, in [-1, 1]."""
	return analyzer().polarity_scores(text)["compound"]


def empty() -> dict:
	return {"at": None, "short": [0.0, 0.0], "long": [0.0, 0.0], "last": None, "messages": 0}


def record(state: dict | None, compound: float, ts: float, half_life: float) -> dict:
	"""The state after one more message with sentiment `compound` at `ts`."""
	state = state or empty()
	new = {"messages": state["messages"] + 1}
	for horizon, length in (("short", half_life), ("long", half_life * LONG_HORIZON)):
		keep, weight, new["at"] = decay.shift(state["at"], ts, length)
		total, weights = state[horizon]
		new[horizon] = [total * keep + compound * weight, weights * keep + weight]
	new["last"] = compound if state["at"] is None or ts >= state["at"] else state["last"]
	return new


def _mood(sums: list[float], age: float, half_life: float) -> float:
	total, weights = sums
	left = decay.factor(age, half_life)
	return total * left / (weights * left + NEUTRAL_WEIGHT)


def label(mood: float) -> str:
	if mood >= LABEL_THRESHOLD:
		return "positive"
	if mood <= -LABEL_THRESHOLD:
		return "negative"
	return "neutral"


def trend(delta: float) -> str:
	if delta > TREND_THRESHOLD:
		return "improving"
	if delta < -TREND_THRESHOLD:
		return "declining"
	return "stable"


def view(state: dict | None, now: float, half_life: float) -> dict:
	"""What the assistant sees: label, mood score and trend as of `now`."""
	state = state or empty()
	short = long = 0.0
	if state["at"] is not None:
		age = now - state["at"]
		short = _mood(state["short"], age, half_life)
		long = _mood(state["long"], age, half_life * LONG_HORIZON)
	return {
		"label": label(short),
		"score": round(short, 4),
		"trend": trend(short - long),
		"trend_delta": round(short - long, 4),
		"last_sentiment": state["last"],
		"message_count": state["messages"],
	}
