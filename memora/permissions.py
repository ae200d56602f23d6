"""Row-level access to trackers: players see their own rows; Memora staff see all."""

import frappe

from memora.api.utils import SERVICE_ROLES, has_any_role


def is_memora_staff(user: str) -> bool:
	return user == "Administrator" or has_any_role(SERVICE_ROLES, user)


def tracker_query_conditions(user: str | None = None) -> str:
	user = user or frappe.session.user
	if is_memora_staff(user):
		return ""
	return f"`tabPlayer Memory Tracker`.`player` = {frappe.db.escape(user)}"


def has_tracker_permission(doc, ptype: str | None = None, user: str | None = None) -> bool:
	user = user or frappe.session.user
	return is_memora_staff(user) or doc.player == user
