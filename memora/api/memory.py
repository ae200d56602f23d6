"""Fan memory endpoints for AI chat assistants. Fan memory is sensitive: only Memora Service and
Memora Admin users (and System Manager) may read or change it. Writes are POST-only. Every endpoint
is rate limited per signed-in user and fan (or creator), reads and writes on separate budgets. Arguments are also taken in the TypeScript service's camelCase
(fanId, creatorId, fanIds); answers are snake_case. Shapes and semantics: docs/fan-memory.md."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import frappe

from memora.api.endpoint import endpoint
from memora.api.erasure import ErasureReceipt
from memora.api.rate_limit import Limit
from memora.api.utils import SERVICE_ROLES, parse_json_arg
from memora.services.user_memory_service import get_user_memory_service

# Reads and writes have a budget each, per signed-in user and fan (a creator for the creator-wide reads).
FAN_WRITES = Limit(scope="fan-writes", setting="interaction_rate_limit", per="fan_id")
FAN_READS = Limit(scope="fan-reads", setting="interaction_rate_limit", per="fan_id")
CREATOR_READS = Limit(scope="creator-reads", setting="interaction_rate_limit", per="creator_id")


class ConversationMessage(TypedDict):
	"""One of the fan's recent messages, oldest first."""

	id: str
	content: str
	timestamp: str
	sentiment: float
	metadata: dict | None


class PersonalityProfile(TypedDict):
	"""How the fan writes, learnt from their messages; `calibrated` once there are enough of them."""

	communication_style: Literal["concise", "balanced", "verbose"] | None
	avg_message_length: float
	question_rate: float
	emoji_rate: float
	emojis_per_message: float
	active_hours: list[int]
	response_cadence_seconds: float | None
	sessions: int
	traits: list[str]
	message_count: int
	confidence: float
	calibrated: bool


class PreferenceItem(TypedDict):
	"""Something the fan bought, tipped for, liked, viewed or talked about; `score` decays with time."""

	name: str
	count: int
	score: float
	last_seen: str
	amount: NotRequired[float]


class Preferences(TypedDict):
	"""The fan's strongest preferences of each kind, strongest first."""

	purchases: list[PreferenceItem]
	tips: list[PreferenceItem]
	topics: list[PreferenceItem]
	likes: list[PreferenceItem]
	views: list[PreferenceItem]


class EmotionalState(TypedDict):
	"""The mood of the fan's recent messages and where it is heading."""

	label: Literal["positive", "neutral", "negative"]
	score: float
	trend: Literal["improving", "stable", "declining"]
	trend_delta: float
	last_sentiment: float | None
	message_count: int


class EngagementMetrics(TypedDict):
	"""Engagement as of now, and the counts it is made of."""

	engagement_score: float
	recency: float
	days_since_last_interaction: float | None
	message_count: int
	purchase_count: int
	tip_count: int
	like_count: int
	view_count: int
	total_interactions: int
	total_spent: float
	first_interaction: str | None
	last_interaction: str | None


class RecalledMemory(TypedDict):
	"""A past interaction with text that matters to the query: `matched` says whether its words, its
	meaning or both; `score` is the fused, recency-weighted relevance it is ranked by."""

	id: str
	content: str
	type: Literal["message", "purchase", "tip", "like", "view"]
	timestamp: str
	score: float
	matched: Literal["lexical", "semantic", "both"]
	lexical_score: float
	semantic_score: float


class Recall(TypedDict):
	"""Search results, best first. `mode` is "lexical" when the embedding model is not installed;
	`not_embedded` messages are found by their words only until the embedding job has run; `degraded`
	when MariaDB could not be read (no results)."""

	query: str
	mode: Literal["hybrid", "lexical"]
	results: list[RecalledMemory]
	not_embedded: int
	degraded: bool


class MemoryContext(TypedDict):
	"""What an assistant knows of a fan of a creator; `degraded` when defaults stand in for data that
	could not be read."""

	fan_id: str
	creator_id: str
	recent_messages: list[ConversationMessage]
	personality_profile: PersonalityProfile
	preferences: Preferences
	emotional_state: EmotionalState
	engagement_metrics: EngagementMetrics
	last_interaction: str | None
	degraded: bool
	relevant_memories: NotRequired[Recall]


class BulkRefusal(TypedDict):
	"""In place of a context, for an id of a bulk read that is not valid."""

	error_type: Literal["VALIDATION_ERROR"]
	field: str
	message: str


class MemoryStats(TypedDict):
	"""Totals over a creator's fans."""

	total_fans: int
	fans_with_memory: int
	total_messages: int
	total_interactions: int
	avg_engagement_score: float
	calibrated_profiles: int
	last_updated: str | None


class InteractionSaved(TypedDict):
	"""A stored interaction; `duplicate` when its event_id was already stored (nothing counted twice)."""

	interaction_id: str
	event_id: str
	duplicate: bool


class MemoryCleared(ErasureReceipt):
	"""Rows deleted per DocType, with the erasure's receipt."""

	deleted: dict[str, int]


@frappe.whitelist(methods=["GET"])
@endpoint(SERVICE_ROLES, limit=FAN_READS, camel_case=True)
def get_memory_context(
	fan_id: str, creator_id: str, query: str | None = None, top_k: int = 5
) -> MemoryContext:
	"""The MemoryContext of a fan of a creator: recent messages, personality profile, preferences,
	emotional state, engagement metrics and last interaction, plus `degraded`. Cache-first; a fan
	never seen gets the defaults. With a `query` (say, the fan's new message), also
	`relevant_memories`: what search_memories answers for it."""
	return get_user_memory_service().get_memory_context(fan_id, creator_id, query, top_k)


@frappe.whitelist(methods=["GET"])
@endpoint(SERVICE_ROLES, limit=FAN_READS, camel_case=True)
def search_memories(fan_id: str, creator_id: str, query: str, top_k: int = 5) -> Recall:
	"""The fan's past messages (and other interactions with text) most relevant to `query`, best
	first, at most `top_k` (1-50): ranked by words (BM25) and meaning (sentence embeddings), weighted
	toward recent ones, each with why it matched."""
	return get_user_memory_service().search_memories(fan_id, creator_id, query, top_k)


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(SERVICE_ROLES, limit=CREATOR_READS, camel_case=True)
def get_memories_for_fans(
	fan_ids: list[str] | str, creator_id: str
) -> dict[str, MemoryContext | BulkRefusal]:
	"""MemoryContexts of up to 1000 fans of one creator, keyed by fan id (a JSON list in a query
	string). Unknown fans get the defaults; an id that is not valid gets {error_type, field, message}
	in its place, and the others are still answered."""
	fan_ids = parse_json_arg(fan_ids, "fan_ids", list)
	return get_user_memory_service().get_memories_for_fans(fan_ids, creator_id)


@frappe.whitelist(methods=["GET"])
@endpoint(SERVICE_ROLES, limit=FAN_READS, camel_case=True)
def get_engagement_score(fan_id: str, creator_id: str) -> float:
	"""Engagement in [0, 1] as of now; 0.5 for a fan never seen."""
	return get_user_memory_service().get_engagement_score(fan_id, creator_id)


@frappe.whitelist(methods=["GET"])
@endpoint(SERVICE_ROLES, limit=CREATOR_READS, camel_case=True)
def get_memory_stats(creator_id: str) -> MemoryStats:
	"""Totals over a creator's fans: total_fans, fans_with_memory, total_messages,
	total_interactions, avg_engagement_score, calibrated_profiles, last_updated."""
	return get_user_memory_service().get_memory_stats(creator_id)


@frappe.whitelist(methods=["POST"])
@endpoint(SERVICE_ROLES, limit=FAN_WRITES, camel_case=True)
def save_interaction(
	fan_id: str,
	creator_id: str,
	type: str,
	content: str | None = None,
	amount: float | None = None,
	timestamp: str | float | None = None,
	metadata: dict | str | None = None,
	event_id: str | None = None,
) -> InteractionSaved:
	"""Record an interaction (message, purchase, tip, like or view) and update the fan's memory.
	Send an `event_id` to make retries safe: an event is stored and counted once. Returns
	{interaction_id, event_id, duplicate}."""
	event = {
		"fan_id": fan_id,
		"creator_id": creator_id,
		"type": type,
		"content": content,
		"amount": amount,
		"timestamp": timestamp,
		"metadata": parse_json_arg(metadata, "metadata", dict),
		"event_id": event_id,
	}
	return get_user_memory_service().save_interaction(event)


@frappe.whitelist(methods=["POST"])
@endpoint(SERVICE_ROLES, limit=FAN_WRITES, camel_case=True)
def clear_memory(fan_id: str, creator_id: str) -> MemoryCleared:
	"""GDPR erase of one fan-creator pair: every interaction, the Fan Memory row (with its derived
	profile, preferences and emotional state), audit rows and cache entries. Irreversible. Returns
	{"deleted": rows per DocType} with the erasure's receipt. `memora.api.erasure.erase_fan` erases
	a fan with every creator."""
	return get_user_memory_service().clear_memory(fan_id, creator_id, requested_by=frappe.session.user)
