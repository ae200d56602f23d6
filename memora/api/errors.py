"""How an error reaches a REST client: one HTTP status per kind, and a body a client can act on.

Every failed Memora call answers JSON with Frappe's usual `exc_type` and `_server_messages`, plus
`error_type` (VALIDATION_ERROR, NOT_FOUND, CONFLICT, TIMEOUT, CACHE_ERROR, DATABASE_ERROR,
NOT_PERMITTED, RATE_LIMITED or INTERNAL_ERROR), `field` for a bad argument, and
`correlation_id`, the id support starts from. 503 answers carry `Retry-After`: the same call may
succeed then. The Frappe exception classes below subclass `frappe.ValidationError`, so Desk shows
their message as it shows any refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import frappe
import redis
from frappe import _

from memora import runtime
from memora.api import response_headers
from memora.exceptions import MemoraError, MemoryServiceError, ValidationError, error_type, http_status
from memora.runtime.breaker import REDIS_ERRORS

RETRY_AFTER_SECONDS = 5
INTERNAL_ERROR = "INTERNAL_ERROR"
REDIS_UNAVAILABLE = (
	*REDIS_ERRORS,
	redis.exceptions.BusyLoadingError,
	redis.exceptions.ReadOnlyError,
)
UNAVAILABLE_MESSAGES = {
	MemoryServiceError.TIMEOUT.value: "The database took too long to answer; try again.",
	MemoryServiceError.CACHE_ERROR.value: "Redis is unavailable; try again shortly.",
	MemoryServiceError.DATABASE_ERROR.value: "The database is unavailable; try again shortly.",
}


class Invalid(frappe.ValidationError):
	http_status_code = 417


class NotFoundError(frappe.DoesNotExistError):
	http_status_code = 404


class Conflict(frappe.ValidationError):
	http_status_code = 409


class Unavailable(frappe.ValidationError):
	http_status_code = 503


class TimedOut(frappe.ValidationError):
	http_status_code = 504


FRAPPE_CLASS = {417: Invalid, 404: NotFoundError, 409: Conflict, 503: Unavailable, 504: TimedOut}
TITLES = {417: "Invalid {0}", 404: "Not Found", 409: "Not Allowed", 503: "Try Again", 504: "Timed Out"}
# Frappe's own refusals, named for clients like Memora's.
FRAPPE_ERROR_TYPES = (
	(frappe.PermissionError, "NOT_PERMITTED"),
	(frappe.RateLimitExceededError, "RATE_LIMITED"),
	(frappe.TooManyRequestsError, "RATE_LIMITED"),
	(frappe.DoesNotExistError, MemoryServiceError.NOT_FOUND.value),
	(frappe.ValidationError, MemoryServiceError.VALIDATION_ERROR.value),
)


@contextmanager
def reported(correlation_id: str) -> Iterator[None]:
	"""Turn what the block raises into the Frappe error of its status, with the body fields set."""
	try:
		yield
	except MemoraError as e:
		raise_memora_error(e, correlation_id)
	except Exception as e:
		if kind := unavailable(e):
			raise_unavailable(kind, correlation_id, e)
		describe(frappe_error_type(e), correlation_id)
		raise


def unavailable(error: BaseException) -> str | None:
	"""The backing service a failure says is down, busy or timed out (worth a retry), if any. Memora's
	Redis and RQ's may be one server: a Redis failure reads as the cache's. Any other Redis error (a
	wrong type, a script error) is a bug, and a retry would not help."""
	if isinstance(error, REDIS_UNAVAILABLE):
		return MemoryServiceError.CACHE_ERROR.value
	if runtime.is_statement_timeout(error):
		return MemoryServiceError.TIMEOUT.value
	if runtime.is_transient_db_error(error):
		return MemoryServiceError.DATABASE_ERROR.value
	return None


def frappe_error_type(error: BaseException) -> str:
	for cls, name in FRAPPE_ERROR_TYPES:
		if isinstance(error, cls):
			return name
	return INTERNAL_ERROR


def describe(kind: str, correlation_id: str, field: str | None = None) -> None:
	"""The body fields of an error response (Frappe sends `frappe.response` with the error)."""
	frappe.response["error_type"] = kind
	frappe.response["correlation_id"] = correlation_id
	if field:
		frappe.response["field"] = field


def raise_memora_error(error: MemoraError, correlation_id: str) -> None:
	status = http_status(error)
	field = error.field if isinstance(error, ValidationError) else None
	describe(error_type(error), correlation_id, field)
	if status == 503:
		response_headers.add("Retry-After", RETRY_AFTER_SECONDS)
	title = _(TITLES[status]).format(field) if field else _(TITLES[status]).format(_("Input"))
	frappe.throw(str(error), FRAPPE_CLASS[status], title=title)


def raise_unavailable(kind: str, correlation_id: str, cause: BaseException) -> None:
	"""503 (with Retry-After) for a backing service that is down or busy, 504 for a statement MariaDB
	cut off: the client may retry either."""
	runtime.log("api.unavailable", logging.WARNING, error_type=kind, error=type(cause).__name__)
	describe(kind, correlation_id)
	if kind == MemoryServiceError.TIMEOUT.value:
		frappe.throw(UNAVAILABLE_MESSAGES[kind], TimedOut, title=_("Timed Out"))
	response_headers.add("Retry-After", RETRY_AFTER_SECONDS)
	frappe.throw(UNAVAILABLE_MESSAGES[kind], Unavailable, title=_("Try Again"))
