"""The fan memory models' properties: bounded, monotone in activity, decaying with time, and the same
whatever order events arrive in."""

import math
import random

import pytest

from memora.services.fan_memory import decay, emotion, engagement, personality, preferences

pytestmark = pytest.mark.unit

DAY = decay.DAY
HALF_LIFE = 14 * DAY
NOW = 1_800_000_000.0
TYPES = list(engagement.TYPE_WEIGHTS)


def random_events(rng: random.Random, count: int) -> list[tuple[float, float]]:
	"""(timestamp, weight) pairs over the last 200 days, amounts up to a million."""
	events = []
	for _ in range(count):
		kind = rng.choice(TYPES)
		amount = rng.choice([0.01, 5, 19.99, 1e6]) if kind in ("purchase", "tip") else None
		events.append((NOW - rng.uniform(0, 200 * DAY), engagement.weight(kind, amount)))
	return events


def replay(events: list[tuple[float, float]]) -> tuple[float, float | None]:
	score, last = engagement.PRIOR, None
	for ts, weight in events:
		score, last = engagement.record(score, last, ts, weight, HALF_LIFE)
	return score, last


def test_new_fan_scores_the_prior():
	assert engagement.current(engagement.PRIOR, None, NOW, HALF_LIFE) == 0.5


@pytest.mark.parametrize("seed", range(20))
def test_score_is_bounded_and_order_independent(seed):
	rng = random.Random(seed)
	events = random_events(rng, rng.randint(1, 300))
	score, last = replay(events)
	shuffled = events[:]
	rng.shuffle(shuffled)
	assert replay(shuffled)[0] == pytest.approx(score, rel=1e-9)
	# The definition: E = sum of weights decayed to the latest event, score = (k/2 + E) / (k + E).
	evidence = sum(w * decay.factor(last - ts, HALF_LIFE) for ts, w in events)
	assert score == pytest.approx(engagement.score(evidence), rel=1e-9)
	for days_later in (0, 1, 30, 365, 10_000):
		assert 0.0 <= engagement.current(score, last, last + days_later * DAY, HALF_LIFE) <= 1.0


@pytest.mark.parametrize("seed", range(20))
def test_more_activity_never_lowers_the_score(seed):
	rng = random.Random(seed)
	events = random_events(rng, rng.randint(0, 100))
	score, last = replay(events)
	before = engagement.current(score, last, NOW, HALF_LIFE)
	for ts, weight in random_events(rng, 5):
		score, last = engagement.record(score, last, ts, weight, HALF_LIFE)
		after = engagement.current(score, last, NOW, HALF_LIFE)
		assert after >= before - 1e-12
		before = after


def test_more_activity_at_once_scores_higher():
	def score_of(count: int) -> float:
		return replay([(NOW, engagement.weight("message"))] * count)[0]

	scores = [score_of(n) for n in (1, 5, 20, 100)]
	assert scores == sorted(scores) and scores[0] > 0.5 and scores[-1] < 1.0


def test_purchases_count_more_than_views():
	def one(kind: str, amount: float | None = None) -> float:
		return replay([(NOW, engagement.weight(kind, amount))])[0]

	assert one("view") < one("like") < one("message") < one("purchase", 50)


def test_score_decays_with_time_to_zero():
	score, last = replay([(NOW - i * DAY, engagement.weight("message")) for i in range(30)])
	later = [engagement.current(score, last, last + d * DAY, HALF_LIFE) for d in (0, 7, 14, 60, 365, 3650)]
	assert later == sorted(later, reverse=True)
	assert later[0] > 0.8 and later[3] < 0.5 and later[-1] < 0.05


def test_evidence_round_trips_through_the_stored_score():
	for evidence in (0.0, 0.3, 1.0, 42.0, 5_000.0):
		stored = round(engagement.score(evidence), 9)
		assert engagement.evidence(stored) == pytest.approx(evidence, rel=1e-4, abs=1e-7)


def test_money_adds_the_log_of_its_units_to_the_type_weight():
	assert engagement.weight("message") == 1.0
	assert engagement.weight("tip", 90.0) == pytest.approx(1.0 + math.log(10.0))


def test_a_first_interaction_starts_from_no_evidence():
	score, last = engagement.record(engagement.PRIOR, None, NOW, 1.0, HALF_LIFE)
	assert (score, last) == (pytest.approx(3.0 / 5.0), NOW)


def test_a_stored_score_of_one_still_gives_finite_evidence():
	assert math.isfinite(engagement.evidence(1.0)) and engagement.evidence(1.0) > 1e6


def test_recency_halves_every_half_life_and_is_zero_for_a_stranger():
	assert engagement.recency(None, NOW, HALF_LIFE) == 0.0
	assert engagement.recency(NOW - HALF_LIFE, NOW, HALF_LIFE) == pytest.approx(0.5)


EMOTION_HALF_LIFE = 24 * 3600.0


def feel(messages: list[tuple[float, float]]) -> dict:
	state = None
	for ts, compound in messages:
		state = emotion.record(state, compound, ts, EMOTION_HALF_LIFE)
	return state


def test_vader_reads_the_sign_of_a_message():
	assert emotion.sentiment("I love this, you are amazing!") > 0.5
	assert emotion.sentiment("This is awful, I hate it") < -0.5
	assert emotion.sentiment("The video is 10 minutes long") == 0


def test_mood_label_trend_and_fading():
	happy = feel([(NOW - i * 3600, 0.8) for i in range(5)])
	view = emotion.view(happy, NOW, EMOTION_HALF_LIFE)
	assert view["label"] == "positive" and 0 < view["score"] <= 1
	assert emotion.view(happy, NOW + 10 * 86400, EMOTION_HALF_LIFE)["label"] == "neutral"

	sad = feel([(NOW - i * 3600, -0.9) for i in range(5)])
	assert emotion.view(sad, NOW, EMOTION_HALF_LIFE)["label"] == "negative"

	turning = feel(
		[(NOW - 3 * 86400 - i * 3600, -0.8) for i in range(10)] + [(NOW - i * 600, 0.9) for i in range(3)]
	)
	assert emotion.view(turning, NOW, EMOTION_HALF_LIFE)["trend"] == "improving"
	assert emotion.view(None, NOW, EMOTION_HALF_LIFE) == {
		"label": "neutral",
		"score": 0.0,
		"trend": "stable",
		"trend_delta": 0.0,
		"last_sentiment": None,
		"message_count": 0,
	}


@pytest.mark.parametrize("seed", range(10))
def test_mood_is_bounded_and_fades_monotonically(seed):
	rng = random.Random(seed)
	state = feel([(NOW - rng.uniform(0, 5 * 86400), rng.uniform(-1, 1)) for _ in range(rng.randint(1, 50))])
	scores = [abs(emotion.view(state, NOW + h * 3600, EMOTION_HALF_LIFE)["score"]) for h in (0, 6, 24, 96)]
	assert all(s <= 1 for s in scores)
	assert scores == sorted(scores, reverse=True)


def test_preferences_count_rank_by_recency_and_skip_sentiment_words():
	state = None
	events = [
		("purchase", NOW - 30 * DAY, {"category": "Photos"}, None, 10.0),
		("purchase", NOW - 20 * DAY, {"productId": "set-1", "category": "photos"}, None, 5.0),
		("purchase", NOW - DAY, {"content_type": "video"}, None, 30.0),
		("message", NOW - DAY, None, "Was that the beach near your place?", None),
		("message", NOW, {"tags": ["Beach"]}, "I absolutely love your #cosplay and beach sunsets!", None),
	]
	for kind, ts, metadata, content, amount in events:
		state = preferences.record(state, kind, ts, HALF_LIFE, metadata, content, amount)
	view = preferences.view(state, NOW, HALF_LIFE)
	photos = next(item for item in view["purchases"] if item["name"] == "photos")
	assert (photos["count"], photos["amount"]) == (2, 15.0)
	assert view["purchases"][0]["name"] == "video"  # bought once, but recently
	topics = [item["name"] for item in view["topics"]]
	assert topics[:1] == ["beach"] and {"cosplay", "sunsets"} <= set(topics)
	assert not {"love", "absolutely", "your"} & set(topics)
	assert view["tips"] == [] and view["views"] == []


def test_preferences_keep_only_the_strongest_items():
	state = None
	for i in range(preferences.MAX_ITEMS + 20):
		state = preferences.record(state, "view", NOW + i, HALF_LIFE, {"topic": f"item-{i:03d}"})
	assert len(state["views"]) == preferences.MAX_ITEMS
	assert "item-069" in state["views"] and "item-000" not in state["views"]
	assert len(preferences.view(state, NOW, HALF_LIFE)["views"]) == preferences.TOP_ITEMS


def test_personality_signals_confidence_and_calibration():
	state = None
	start = NOW - 10 * DAY
	for i in range(20):
		text = "Are you online tonight? 😍" if i % 2 else "ok"
		state = personality.record(state, "message", start + i * 60, text)
	state = personality.record(state, "like", start + 3 * DAY, None)
	profile = personality.view(state, min_messages=20)
	assert profile["message_count"] == 20 and profile["calibrated"]
	assert profile["question_rate"] == 0.5 and profile["emoji_rate"] == 0.5
	assert profile["response_cadence_seconds"] == pytest.approx(60.0)
	assert profile["sessions"] == 1 and profile["communication_style"] == "concise"
	assert set(profile["traits"]) == {"inquisitive", "expressive"}
	assert 0.9 < profile["confidence"] < 1

	confidences = [personality.confidence(n, 20) for n in range(0, 60, 5)]
	assert confidences == sorted(confidences) and confidences[0] == 0 and confidences[-1] < 1
	assert not personality.view(None, 20)["calibrated"]


def test_active_hours_come_from_every_interaction_kind():
	state = None
	for day in range(3):
		state = personality.record(state, "view", NOW - day * DAY, None)
	hour = int((NOW % DAY) // 3600)
	assert personality.view(state, 20)["active_hours"] == [hour]
	assert math.isclose(personality.view(state, 20)["confidence"], 0.0)
