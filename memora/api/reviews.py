"""Review sessions over REST: what is due now (GET or POST) and submitting answers (POST only).

A player acts on their own queue; Memora Service and Memora Admin may pass `player` to act for one.
Both endpoints share one rate limit, Memora Settings' `review_rate_limit` calls a minute per
signed-in user and player (see `memora.api.rate_limit`).
"""

from __future__ import annotations

from typing import TypedDict

import frappe

from memora.api.endpoint import endpoint
from memora.api.rate_limit import Limit
from memora.services.srs import reviews

REVIEWS = Limit(scope="reviews", setting="review_rate_limit", per="player")


class ReviewSession(TypedDict):
	"""Due cards, most overdue first; `safe_mode` when Redis is down and MariaDB answered."""

	season: str
	questions: list[str]
	due_count: int
	remaining: int
	was_rehydrated: bool
	safe_mode: bool


class ReviewResult(TypedDict):
	"""A card's new schedule; `already_applied` for a client retry that changed nothing."""

	question_id: str
	review_id: str
	rating: int
	state: str
	stability: float
	difficulty: float
	next_review_ts: float
	already_applied: bool


class ReviewsAccepted(TypedDict):
	"""Answers applied; their rows are written by the persistence job (null in safe mode, when they
	were written at once)."""

	season: str
	accepted: int
	results: list[ReviewResult]
	persistence_job_id: str | None
	safe_mode: bool


@frappe.whitelist(methods=["GET", "POST"])
@endpoint(acts_for_player=True, limit=REVIEWS)
def get_review_session(
	season: str | None = None,
	subject: str | None = None,
	topic: str | None = None,
	limit: int | str = 20,
	player: str | None = None,
) -> ReviewSession:
	"""The cards due now in a season (the active one when none is named), most overdue first, at most
	`limit`."""
	return reviews.get_review_session(player, season=season, subject=subject, topic=topic, limit=limit)


@frappe.whitelist(methods=["POST"])
@endpoint(acts_for_player=True, limit=REVIEWS)
def submit_review_session(season: str, responses: str | list, player: str | None = None) -> ReviewsAccepted:
	"""Answers to cards of a season (a list, or a JSON list in a form post): each is scheduled at once
	and written to MariaDB in the background."""
	return reviews.submit_review_session(player, season, responses)
