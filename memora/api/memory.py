"""Fan memory endpoints for AI chat assistants. Fan memory is sensitive: only Memora Service and
Memora Admin users (and System Manager) may read or change it. Writes are POST-only and rate
limited per fan. Shapes and semantics: docs/fan-memory.md."""

from __future__ import annotations

import frappe

from memora import runtime
from memora.api.rate_limit import rate_limit
from memora.api.tracing import traced
from memora.api.utils import SERVICE_ROLES, parse_json_arg, raise_as_frappe, require_roles
from memora.services.user_memory_service import get_user_memory_service

WRITE_WINDOW_SECONDS = 60


def _write_limit() -> int:
	"""Writes allowed per fan per minute (Memora Settings → Interaction Rate Limit)."""
	return runtime.settings().interaction_rate_limit


@frappe.whitelist(methods=["GET"])
def get_memory_context(fan_id: str, creator_id: str) -> dict:
	"""The MemoryContext of a fan of a creator: recent messages, personality profile, preferences,
	emotional state, engagement metrics and last interaction, plus `degraded`. Cache-first; a fan
	never seen gets the defaults."""
	with raise_as_frappe(), traced("memory.get_memory_context"):
		require_roles(SERVICE_ROLES)
		return get_user_memory_service().get_memory_context(fan_id, creator_id)


@frappe.whitelist(methods=["GET", "POST"])
def get_memories_for_fans(fan_ids: list | str, creator_id: str) -> dict:
	"""MemoryContexts of up to 1000 fans of one creator, keyed by fan id (a JSON list in a query
	string). Unknown fans get the defaults."""
	with raise_as_frappe(), traced("memory.get_memories_for_fans"):
		require_roles(SERVICE_ROLES)
		fan_ids = parse_json_arg(fan_ids, "fan_ids", list)
		return get_user_memory_service().get_memories_for_fans(fan_ids, creator_id)


@frappe.whitelist(methods=["GET"])
def get_engagement_score(fan_id: str, creator_id: str) -> float:
	"""Engagement in [0, 1] as of now; 0.5 for a fan never seen."""
	with raise_as_frappe(), traced("memory.get_engagement_score"):
		require_roles(SERVICE_ROLES)
		return get_user_memory_service().get_engagement_score(fan_id, creator_id)


@frappe.whitelist(methods=["GET"])
def get_memory_stats(creator_id: str) -> dict:
	"""Totals over a creator's fans: total_fans, fans_with_memory, total_messages,
	total_interactions, avg_engagement_score, calibrated_profiles, last_updated."""
	with raise_as_frappe(), traced("memory.get_memory_stats"):
		require_roles(SERVICE_ROLES)
		return get_user_memory_service().get_memory_stats(creator_id)


@frappe.whitelist(methods=["POST"])
@rate_limit(key="fan_id", limit=_write_limit, seconds=WRITE_WINDOW_SECONDS, ip_based=False)
def save_interaction(
	fan_id: str,
	creator_id: str,
	type: str,
	content: str | None = None,
	amount: float | None = None,
	timestamp: str | float | None = None,
	metadata: dict | str | None = None,
	event_id: str | None = None,
) -> dict:
	"""Record an interaction (message, purchase, tip, like or view) and update the fan's memory.
	Send an `event_id` to make retries safe: an event is stored and counted once. Returns
	{interaction_id, event_id, duplicate}."""
	with raise_as_frappe(), traced("memory.save_interaction"):
		require_roles(SERVICE_ROLES)
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
@rate_limit(key="fan_id", limit=_write_limit, seconds=WRITE_WINDOW_SECONDS, ip_based=False)
def clear_memory(fan_id: str, creator_id: str) -> dict:
	"""GDPR erase: every interaction, the Fan Memory row (with its derived profile, preferences and
	emotional state), audit rows and cache entries of this fan and creator. Irreversible. Returns
	{"deleted": rows per DocType}."""
	with raise_as_frappe(), traced("memory.clear_memory"):
		require_roles(SERVICE_ROLES)
		return get_user_memory_service().clear_memory(fan_id, creator_id)
