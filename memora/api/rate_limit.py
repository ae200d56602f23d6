"""Rate limits of the client-facing endpoints, counted per acting identity (`services.rate_limits`).

A call is counted against the signed-in user and whom it is for: a player on their own queue, a service
for the player or fan it names. A user acting for others (a backend serving many players from one
address) also spends one overall budget per user, Memora Settings' `service_rate_limit`. Nothing a
client sends in a header is counted, and only calls that passed the permission check are. Calls made
outside an HTTP request (console, jobs, tests calling the function) are not counted.

Every counted response carries X-RateLimit-Limit, -Remaining and -Reset (of the budget closest to
running out); a 429 also carries Retry-After. When Redis cannot count, the call is served uncounted:
safe mode keeps reviews working without Redis, and the limiter must not be what refuses them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import frappe
import redis
from frappe import _

from memora import runtime
from memora.api import response_headers
from memora.services import rate_limits

SERVICE_SCOPE = "user"


@dataclass(frozen=True)
class Limit:
	"""`setting`: the Memora Settings field with the calls allowed per window; `per`: the argument that
	names whom the call is for; `scope`: the counters' family (endpoints that share it share a budget)."""

	scope: str
	setting: str
	per: str
	seconds: int = 60


def counted(limit: Limit, user: str, subject: str) -> list[rate_limits.Window]:
	"""This call in its budgets: per user and subject, then, if that one allows it and the user acts for
	others, the user's overall one. A backend retrying one player past their budget spends only that
	player's (a call the overall budget refuses still counts for its player)."""
	current = runtime.settings()
	own = rate_limits.count(limit.scope, user, subject, current[limit.setting], limit.seconds)
	if not own.allowed or subject.lower() == user.lower():
		return [own]
	return [own, rate_limits.count(SERVICE_SCOPE, user, user, current.service_rate_limit, limit.seconds)]


def spend(limit: Limit, subject: str) -> None:
	"""Count this call; 429 when a budget is spent."""
	if getattr(frappe.local, "request", None) is None:
		return
	try:
		windows = counted(limit, frappe.session.user, subject)
	except redis.RedisError as e:
		runtime.log("api.rate_limit_uncounted", logging.WARNING, error=type(e).__name__)
		return
	refused = [w for w in windows if not w.allowed]
	shown = refused[0] if refused else min(windows, key=lambda w: w.remaining)
	response_headers.add("X-RateLimit-Limit", shown.limit)
	response_headers.add("X-RateLimit-Remaining", shown.remaining)
	response_headers.add("X-RateLimit-Reset", shown.reset_seconds)
	if refused:
		response_headers.add("Retry-After", shown.reset_seconds)
		frappe.throw(
			_("Too many calls: {0} are allowed every {1} s. Try again in {2} s.").format(
				shown.limit, limit.seconds, shown.reset_seconds
			),
			frappe.RateLimitExceededError,
			title=_("Rate Limit"),
		)
