"""Headers a Memora call adds to its response, success or error: X-Correlation-ID on every one, and the
rate-limit and Retry-After headers of the call.

An endpoint records them while it runs (`add`); Frappe's `after_request` hook (`apply`) writes them
onto whatever response Frappe built, including an error page, so a client always gets back the id it
can quote to support: its own X-Correlation-ID when it sent a valid one, else a new one.
"""

from __future__ import annotations

import re

import frappe

from memora import runtime

CORRELATION_HEADER = "X-Correlation-ID"
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")
METHOD_PATHS = ("/api/method/memora.", "/api/v1/method/memora.", "/api/v2/method/memora.")


def add(name: str, value: str | int) -> None:
	"""A header for this request's response (nothing outside a request)."""
	if getattr(frappe.local, "request", None) is None:
		return
	if not hasattr(frappe.local, "memora_headers"):
		frappe.local.memora_headers = {}
	frappe.local.memora_headers[name] = str(value)


def incoming_correlation_id() -> str | None:
	"""The client's correlation id, if it sent one that is safe to log and store. An endpoint called
	without a request (bench console, bench execute, tests) has no header to read."""
	headers = getattr(getattr(frappe.local, "request", None), "headers", None) or {}
	value = headers.get(CORRELATION_HEADER) or ""
	return value if CLIENT_ID_RE.fullmatch(value) else None


def request_correlation_id() -> str:
	"""This request's correlation id: chosen once, kept for the response header."""
	headers = getattr(frappe.local, "memora_headers", None) or {}
	cid = headers.get(CORRELATION_HEADER) or incoming_correlation_id() or runtime.new_correlation_id()
	add(CORRELATION_HEADER, cid)
	return cid


def is_memora_call(request) -> bool:
	"""A call of a Memora method, or of one Memora overrides (its endpoint recorded headers)."""
	path = getattr(request, "path", "") or ""
	return (
		path.startswith(METHOD_PATHS)
		or str(frappe.form_dict.get("cmd") or "").startswith("memora.")
		or hasattr(frappe.local, "memora_headers")
	)


def apply(response=None, request=None) -> None:
	"""Frappe's after_request hook: the recorded headers onto a Memora call's response."""
	if response is None or request is None or not is_memora_call(request):
		return
	request_correlation_id()
	for name, value in frappe.local.memora_headers.items():
		response.headers[name] = value
