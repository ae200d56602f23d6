"""Glue every endpoint shares: role checks and turning service errors into Frappe's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _

from memora.exceptions import NotAllowed, ValidationError

ADMIN_ROLES = ("Memora Admin", "System Manager")
SERVICE_ROLES = ("Memora Service", *ADMIN_ROLES)


@contextmanager
def raise_as_frappe() -> Iterator[None]:
	"""Re-raise service errors as `frappe.ValidationError` so Desk and REST show them cleanly."""
	try:
		yield
	except ValidationError as e:
		frappe.throw(str(e), frappe.ValidationError, title=_("Invalid {0}").format(e.field))
	except NotAllowed as e:
		frappe.throw(str(e), frappe.ValidationError, title=_("Not Allowed"))


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
			frappe.throw(_("{0} must be valid JSON").format(field), title=_("Invalid {0}").format(field))
	if value is not None and not isinstance(value, kind):
		frappe.throw(
			_("{0} must be a JSON {1}").format(field, "list" if kind is list else "object"),
			title=_("Invalid {0}").format(field),
		)
	return value
