"""Per-window call limits for the client-facing endpoints, in one Redis round trip.

Frappe's `frappe.rate_limiter.rate_limit` reads a counter and then increments it: two round trips on
every call of the review hot path. This keeps its behaviour (a fixed window per endpoint and client IP,
or per value of a form field; the same cache key and the same `RateLimitExceededError`) and does both
in one pipeline: create the window's counter if it is missing (SET NX EX), then INCR it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import frappe
from frappe import _


def rate_limit(
	limit: Callable[[], int], seconds: int, key: str | None = None, ip_based: bool = True
) -> Callable[[Callable], Callable]:
	"""Allow `limit()` calls per `seconds` window per client IP (`ip_based`), per value of the form field
	`key`, or per both. Calls made outside an HTTP request (console, jobs, tests) are not counted."""

	def decorator(fn: Callable) -> Callable:
		@wraps(fn)
		def wrapper(*args: Any, **kwargs: Any) -> Any:
			if frappe.request and calls_in_window(identity(key, ip_based), seconds) > limit():
				frappe.throw(
					_("You hit the rate limit because of too many requests. Please try after sometime."),
					frappe.RateLimitExceededError,
				)
			return fn(*args, **kwargs)

		return wrapper

	return decorator


def identity(key: str | None, ip_based: bool) -> str:
	"""Who is counted: the client IP, the form field's value, or both (as Frappe's limiter does)."""
	parts = [frappe.local.request_ip] if ip_based else []
	if key:
		parts.append(str(frappe.form_dict.get(key) or ""))
	if not any(parts):
		frappe.throw(_("Either key or IP flag is required."))
	return ":".join(parts)


def calls_in_window(who: str, seconds: int) -> int:
	"""Count this call in the current window of `who` for the endpoint; returns the calls so far."""
	counter = frappe.cache.make_key(f"rl:{frappe.form_dict.cmd}:{who}")
	pipe = frappe.cache.pipeline(transaction=False)
	pipe.set(counter, 0, ex=seconds, nx=True)
	pipe.incr(counter)
	return pipe.execute()[1]
