"""Structured logging with a correlation id per operation, Error Log entries, alerts and progress."""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from memora.runtime.site import frappe_module, in_site, notify, users_with_roles

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("memora_correlation", default=None)


def new_correlation_id() -> str:
	return uuid.uuid4().hex


def correlation_id() -> str:
	"""The correlation id of the current operation; one is made up if none is set.

	Inside a site an implicit id lives on `frappe.local`, which Frappe clears per request and job,
	so two requests served by one worker thread never share an id.
	"""
	cid = _correlation.get()
	if cid is not None:
		return cid
	if in_site():
		local = frappe_module().local
		if not getattr(local, "memora_correlation_id", None):
			local.memora_correlation_id = new_correlation_id()
		return local.memora_correlation_id
	cid = new_correlation_id()
	_correlation.set(cid)
	return cid


@contextmanager
def correlation(cid: str | None = None) -> Iterator[str]:
	"""Tag everything logged inside the block with one id (a new one unless given)."""
	token = _correlation.set(cid or correlation_id())
	try:
		yield _correlation.get()
	finally:
		_correlation.reset(token)


def _logger() -> logging.Logger:
	if in_site():
		return frappe_module().logger("memora", allow_site=True)
	return logging.getLogger("memora")


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
	"""One structured log line: event name, correlation id and fields, as JSON."""
	record = {"event": event, "correlation_id": correlation_id(), **fields}
	_logger().log(level, json.dumps(record, default=str, sort_keys=True))


def log_error(title: str, message: str) -> None:
	"""An Error Log entry in a site (what admins watch); an error log line outside."""
	if in_site():
		frappe_module().log_error(title=title, message=message)
	log("error", logging.ERROR, title=title, message=message)


ALERT_ROLES = ("System Manager", "Memora Admin")


def alert(
	subject: str, message: str, document_type: str | None = None, document_name: str | None = None
) -> None:
	"""Tell the people who run Memora that something needs a look: in a site a Notification Log (Desk's
	bell) for every enabled System Manager and Memora Admin, plus an Error Log entry; outside, an error
	log line. The caller keeps its own audit row of what happened."""
	document = (document_type, document_name) if document_type else None
	notify(users_with_roles(ALERT_ROLES), subject, message, document)
	log_error(subject, message)


def publish_progress(title: str, done: int, total: int, description: str = "") -> None:
	"""Desk's realtime progress bar inside a site; a debug log line outside."""
	if in_site():
		frappe_module().publish_progress(done * 100 / max(total, 1), title=title, description=description)
	else:
		log("progress", logging.DEBUG, title=title, done=done, total=total)
