"""One correlation id per API call, and the call in the metrics.

A worker thread serves many requests, so an endpoint must not inherit the id of the request before
it: `traced` opens a fresh id for the call (the client's X-Correlation-ID header when it sends a sane
one, so a caller can follow its own id), which then travels into every job the call enqueues and every
audit row those jobs write. The call's duration and error type are recorded as operation
`api.<name>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import frappe

from memora import runtime
from memora.services import metrics

HEADER = "X-Correlation-ID"
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def incoming_correlation_id() -> str | None:
	"""The client's correlation id, if it sent one that is safe to log and store. An endpoint called
	without a request (bench console, bench execute, tests) has no header to read."""
	headers = getattr(getattr(frappe.local, "request", None), "headers", None) or {}
	value = headers.get(HEADER) or ""
	return value if CLIENT_ID_RE.fullmatch(value) else None


@contextmanager
def traced(name: str) -> Iterator[str]:
	"""Run an endpoint's body under its own correlation id (yielded) and time it as `api.<name>`."""
	with runtime.correlation(incoming_correlation_id() or runtime.new_correlation_id()) as cid:
		with metrics.timed(f"api.{name}"):
			yield cid
