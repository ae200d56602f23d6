"""Review sessions over REST: what is due now (GET or POST) and submitting answers (POST only).

A player acts on their own queue; Memora Service and Memora Admin may pass `player` to act for one.
Both endpoints are rate limited per client IP to `review_rate_limit` calls a minute.
"""

from __future__ import annotations

import frappe

from memora import runtime
from memora.api.rate_limit import rate_limit
from memora.api.tracing import traced
from memora.api.utils import acting_player, raise_as_frappe
from memora.services.srs import reviews

RATE_LIMIT_WINDOW_SECONDS = 60


def review_rate_limit() -> int:
	return runtime.settings().review_rate_limit


@frappe.whitelist(methods=["GET", "POST"])
@rate_limit(limit=review_rate_limit, seconds=RATE_LIMIT_WINDOW_SECONDS)
def get_review_session(
	season: str | None = None,
	subject: str | None = None,
	topic: str | None = None,
	limit: int | str = 20,
	player: str | None = None,
) -> dict:
	with raise_as_frappe(), traced("reviews.get_review_session"):
		user = acting_player(player)
		return reviews.get_review_session(user, season=season, subject=subject, topic=topic, limit=limit)


@frappe.whitelist(methods=["POST"])
@rate_limit(limit=review_rate_limit, seconds=RATE_LIMIT_WINDOW_SECONDS)
def submit_review_session(season: str, responses: str | list, player: str | None = None) -> dict:
	with raise_as_frappe(), traced("reviews.submit_review_session"):
		user = acting_player(player)
		return reviews.submit_review_session(user, season, responses)
