"""Install and migrate hooks: roles, then the app's own DDL on top of Frappe's tables."""

import frappe

from memora import app_ddl

ROLES = {
	"Memora Admin": {"desk_access": 1},
	"Memora Service": {"desk_access": 0},
	"Memora Player": {"desk_access": 0},
}


def ensure_roles():
	for role_name, values in ROLES.items():
		if frappe.db.exists("Role", role_name):
			continue
		frappe.get_doc({"doctype": "Role", "role_name": role_name, **values}).insert(ignore_permissions=True)


def after_install():
	ensure_roles()
	app_ddl.apply()


def after_migrate():
	ensure_roles()
	app_ddl.apply()
