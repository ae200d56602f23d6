"""Glue every endpoint shares: role checks, JSON arguments, and service errors raised as Frappe's where
no endpoint runs (document hooks, reports)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _

from memora import runtime
from memora.api import errors
from memora.exceptions import MemoraError, ValidationError

ADMIN_ROLES = ("Memora Admin", "System Manager")
SERVICE_ROLES = ("Memora Service", *ADMIN_ROLES)


@contextmanager
def raise_as_frappe() -> Iterator[None]:
	"""Service errors as the Frappe error of their status, so a Desk form or report shows them cleanly."""
	try:
		yield
	except MemoraError as e:
		errors.raise_memora_error(e, runtime.correlation_id())


def has_any_role(roles: tuple[str, ...], user: str | None = None) -> bool:
	return bool(set(roles) & set(frappe.get_roles(user or frappe.session.user)))


def require_roles(roles: tuple[str, ...]) -> None:
	"""Refuse with PermissionError unless the session user holds one of `roles`."""
	if frappe.session.user == "Administrator" or has_any_role(roles):
		return
	frappe.throw(
		_("Only {0} may do this.").format(", ".join(roles)), frappe.PermissionError, title=_("Not Permitted")
	)


def require_admin() -> None:
	require_roles(ADMIN_ROLES)


def acting_player(player: str | None) -> str:
	"""Whose data a call touches: the session user, or a named player when a service/admin acts for them."""
	user = frappe.session.user
	if not player or player == user:
		if user == "Guest":
			frappe.throw(_("Log in to review."), frappe.PermissionError)
		return user
	require_roles(SERVICE_ROLES)
	return player


def parse_json_arg(value, field: str, kind: type):
	"""Form posts and query strings carry lists and objects as JSON text; refuse anything else by name."""
	if isinstance(value, str):
		try:
			value = json.loads(value)
		except ValueError:
			raise ValidationError(field, "must be valid JSON") from None
	if value is not None and not isinstance(value, kind):
		raise ValidationError(field, f"must be a JSON {'list' if kind is list else 'object'}")
	return value
