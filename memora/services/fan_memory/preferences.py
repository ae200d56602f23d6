"""Preferences: what a fan buys, tips on, likes, views and talks about, with counts and recency.

Items come from the interaction's metadata (category, content type, product id, topic, tags, in
snake or camel case) and, for messages, from the content: hashtags and words of four or more
letters that are neither stop words nor sentiment words (VADER's lexicon, boosters and
negations), so "love", "absolutely" or "amazing" never pass for a topic. Each item keeps a count,
when it was last seen and a weight decayed with the engagement half-life; the view ranks items by
that weight, so recent interests come first. Each kind keeps its MAX_ITEMS strongest items.
"""

from __future__ import annotations

import re
from functools import cache

from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

from memora import runtime
from memora.services.fan_memory import decay, emotion

KINDS = {"purchase": "purchases", "tip": "tips", "message": "topics", "like": "likes", "view": "views"}
METADATA_KEYS = frozenset({"category", "contenttype", "productid", "topic", "tag", "tags"})
MAX_ITEMS = 50
TOP_ITEMS = 10
MAX_TERMS_PER_MESSAGE = 10
ITEM_MAX_LENGTH = 60
WORD_RE = re.compile(r"#?[^\W\d_]{4,}")
STOP_WORDS = frozenset(
	"""about above after again against also always another anything because been before being
	below between both cannot could does doing done down during each else even ever every from
	further gonna have having here hers herself himself into itself just know like make many more
	most much must myself need never only other ours ourselves over same should some such than
	that thats their theirs them themselves then there these they thing things think this those
	through today tomorrow under until very wanna want well were what when where which while will
	with would yeah your yours yourself yourselves""".split()
)


def _normalise(value: object) -> str:
	return str(value).strip().lower()[:ITEM_MAX_LENGTH]


def metadata_items(metadata: dict | None) -> list[str]:
	items = []
	for name, value in (metadata or {}).items():
		if name.replace("_", "").lower() not in METADATA_KEYS:
			continue
		for item in value if isinstance(value, list) else [value]:
			if isinstance(item, str | int) and not isinstance(item, bool) and _normalise(item):
				items.append(_normalise(item))
	return items


@cache
def not_topics() -> frozenset[str]:
	"""Words that say how a fan feels, not what about."""
	return STOP_WORDS | frozenset(emotion.analyzer().lexicon) | frozenset(BOOSTER_DICT) | frozenset(NEGATE)


def content_terms(content: str) -> list[str]:
	"""Topic words of a message, in order of first appearance, at most MAX_TERMS_PER_MESSAGE."""
	terms: list[str] = []
	for match in WORD_RE.finditer(content.lower()):
		word = match.group()
		bare = word.lstrip("#")
		if word.startswith("#") or bare not in not_topics():
			if bare not in terms:
				terms.append(bare)
		if len(terms) == MAX_TERMS_PER_MESSAGE:
			break
	return terms


def record(
	state: dict | None,
	interaction_type: str,
	ts: float,
	half_life: float,
	metadata: dict | None = None,
	content: str | None = None,
	amount: float | None = None,
) -> dict:
	"""The state after one more interaction (unchanged when it names no item)."""
	state = dict(state or {})
	kind = KINDS[interaction_type]
	items = dict.fromkeys(metadata_items(metadata) + (content_terms(content) if content else []))
	if not items:
		return state
	bucket = dict(state.get(kind, {}))
	for name in items:
		entry = bucket.get(name) or {"count": 0, "weight": 0.0, "at": None}
		weight, at = decay.add(entry["weight"], entry["at"], 1.0, ts, half_life)
		updated = {"count": entry["count"] + 1, "weight": weight, "at": at}
		if amount:
			updated["amount"] = round(entry.get("amount", 0.0) + amount, 2)
		bucket[name] = updated
	state[kind] = _strongest(bucket, ts, half_life, MAX_ITEMS)
	return state


def _strength(entry: dict, now: float, half_life: float) -> float:
	return entry["weight"] * decay.factor(now - entry["at"], half_life)


def _strongest(bucket: dict, now: float, half_life: float, limit: int) -> dict:
	ranked = sorted(bucket.items(), key=lambda item: (-_strength(item[1], now, half_life), item[0]))
	return dict(ranked[:limit])


def view(state: dict | None, now: float, half_life: float) -> dict:
	"""Each kind's top items as of `now`: name, count, score (decayed weight), last_seen, amount."""
	state = state or {}
	result = {}
	for kind in KINDS.values():
		top = _strongest(state.get(kind, {}), now, half_life, TOP_ITEMS)
		result[kind] = [
			{
				"name": name,
				"count": entry["count"],
				"score": round(_strength(entry, now, half_life), 4),
				"last_seen": runtime.from_ts(entry["at"]).isoformat(),
				**({"amount": entry["amount"]} if "amount" in entry else {}),
			}
			for name, entry in top.items()
		]
	return result
