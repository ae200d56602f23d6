# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""The site-side setup of the contract test (scripts/contract.sh), not a test: the API users it calls as
and an active season for the endpoints to work on. Run in a site:

    bench --site memora.test execute memora.tests.contract.users
    bench --site memora.test execute memora.tests.contract.finish
"""

import frappe

from memora.tests.utils import api_token, make_season, make_user

# Each user holds exactly these Memora roles, so the Player one shows what a bare player may do.
USERS = {
	"service": ("memora-contract-service@example.com", "Memora Service"),
	"player": ("memora-contract-player@example.com", "Memora Player"),
	"admin": ("memora-contract-admin@example.com", "Memora Admin"),
}
# The season name the document's examples use, so the calls that take them reach real data.
SEASON = "2025-2026"


def users() -> dict[str, str]:
	"""Create (idempotently) the contract users with API keys, make sure a season is active and clear the
	endpoints' rate-limit counters; returns each user's `Authorization` header value,
	`token <api_key>:<api_secret>`, by kind."""
	tokens = {}
	for kind, (email, role) in USERS.items():
		make_user(email, role)
		keep_only(email, role)
		tokens[kind] = api_token(email)
	if not frappe.db.exists("Memora Season", {"is_active": 1}):
		if frappe.db.exists("Memora Season", SEASON):
			frappe.db.set_value("Memora Season", SEASON, "is_active", 1)
		else:
			make_season(SEASON, is_active=1, end_date="2099-12-31")
	frappe.db.commit()
	frappe.cache.delete_keys("rl:")
	return tokens


def finish() -> None:
	"""After the run: the contract season inactive again, as the site's own tests expect no active season
	(a season they activate would be refused)."""
	frappe.db.set_value("Memora Season", {"name": SEASON, "is_active": 1}, "is_active", 0)
	frappe.db.commit()


def keep_only(email: str, role: str) -> None:
	"""Take away every Memora role of the user but `role`."""
	user = frappe.get_doc("User", email)
	if others := [r.role for r in user.roles if r.role.startswith("Memora ") and r.role != role]:
		user.remove_roles(*others)
