"""Where Memora runs: inside a Frappe site, or standalone. Every other runtime module asks here."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

APP_ROOT = Path(__file__).resolve().parent.parent
DOCTYPE_ROOT = APP_ROOT / "memora" / "doctype"


@cache
def frappe_installed() -> bool:
	"""Asked once: a failed import is retried (and costs ~30 µs) on every call otherwise."""
	try:
		import frappe  # noqa: F401
	except ImportError:
		return False
	return True


def in_site() -> bool:
	"""True inside a Frappe request, job or console with a connected site."""
	if not frappe_installed():
		return False
	import frappe

	return bool(getattr(frappe.local, "site", None)) and getattr(frappe.local, "db", None) is not None


def frappe_module() -> Any:
	"""The `frappe` module, imported only when a caller is inside a site."""
	import frappe

	return frappe


def owner() -> str:
	"""The site, or outside a site the standalone database: what namespaces keys and jobs."""
	from memora.runtime.database import database_name

	return frappe_module().local.site if in_site() else database_name()


def users_with_roles(roles: tuple[str, ...]) -> list[str]:
	"""Enabled users holding any of `roles` (Administrator included); none outside a site."""
	if not in_site():
		return []
	return frappe_module().get_all(
		"User",
		filters=[["Has Role", "role", "in", roles], ["User", "enabled", "=", 1]],
		pluck="name",
		distinct=True,
		order_by="name",
	)


def notify(users: list[str], subject: str, message: str, document: tuple[str, str] | None = None) -> None:
	"""A Notification Log (Desk's bell) of type Alert for each user; nothing outside a site."""
	if not in_site():
		return
	frappe = frappe_module()
	document_type, document_name = document or (None, None)
	for user in users:
		frappe.get_doc(
			{
				"doctype": "Notification Log",
				"for_user": user,
				"type": "Alert",
				"subject": subject,
				"email_content": message,
				"document_type": document_type,
				"document_name": document_name,
			}
		).insert(ignore_permissions=True)


def secret() -> str:
	"""A value only this deployment knows, to key pseudonyms with: the site's encryption key, or outside
	a site MEMORA_SECRET (a fixed development value when unset, which suits tests and demos only)."""
	if in_site():
		from frappe.utils.password import get_encryption_key

		return get_encryption_key()
	return os.environ.get("MEMORA_SECRET") or "memora-standalone-development-secret"
