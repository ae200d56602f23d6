"""Install and migrate hooks: roles, then the app's own DDL on top of the tables DocType JSON makes; and
after a migrate, whether Memora's data Redis can evict SRS data, said where the operator is looking."""

from collections.abc import Callable

from memora import app_ddl
from memora.runtime import config
from memora.services import redis_fitness
from memora.services.srs import partitions

ROLES = {
	"Memora Admin": {"desk_access": 1},
	"Memora Service": {"desk_access": 0},
	"Memora Player": {"desk_access": 0},
}


def shape_tables(doctype: str | None = None) -> None:
	"""What DocType JSON cannot say, for one DocType's table or all of them: composite keys, and the
	season partitioning of the tracker table and the review log. Idempotent; runs in a site and on the
	standalone schema alike."""
	app_ddl.apply(doctype)
	if doctype is None or doctype in partitions.PARTITIONED_DOCTYPES:
		partitions.ensure_partitioned_table(doctype)


def ensure_roles():
	import frappe

	for role_name, values in ROLES.items():
		if frappe.db.exists("Role", role_name):
			continue
		frappe.get_doc({"doctype": "Role", "role_name": role_name, **values}).insert(ignore_permissions=True)


def fill_settings_defaults() -> list[str]:
	"""Give every Memora Settings field that has no stored value its DocType default, and return
	their names. A field added by an upgrade has none in an existing site, and Frappe reads a missing
	number as 0 (a batch size of 0, a half-life of 0), not as the default."""
	import frappe

	stored = set(frappe.db.sql_list("select field from tabSingles where doctype = 'Memora Settings'"))
	missing = [
		f for f in config.settings_fields() if f.get("default") is not None and f["fieldname"] not in stored
	]
	for field in missing:
		frappe.db.set_single_value("Memora Settings", field["fieldname"], field["default"])
	if missing:
		frappe.clear_document_cache("Memora Settings", "Memora Settings")
		config.forget_settings()
	return [field["fieldname"] for field in missing]


def after_install():
	ensure_roles()
	shape_tables()


def report_redis_fitness(say: Callable[[str], None] = print) -> list[str]:
	"""Say each way Memora's data Redis can evict SRS data, or has, one line each, and return the lines.
	A warning, never a failure: whatever goes wrong here is said too and the migrate carries on."""
	try:
		problems = redis_fitness.check()["problems"]
	except Exception as exc:  # the migrate's own work is done and must not fail on a check
		problems = [f"could not check its Redis: {exc!r}"]
	lines = [f"Memora: {problem}" for problem in problems]
	if problems:
		lines.append('Memora: see docs/operations.md, "Is Memora\'s Redis fit for data?"')
	for line in lines:
		say(line)
	return lines


def after_migrate():
	ensure_roles()
	shape_tables()
	fill_settings_defaults()
	report_redis_fitness()
