"""Tables from DocType JSON, in the shape Frappe v15's MariaDB schema code gives them.

Used outside a site (standalone tests, benchmarks, the demo) so that the tables the services meet
there are the tables `bench migrate` makes. Inside a site Frappe builds the tables itself; in both
worlds `memora.install.shape_tables` then adds what a DocType cannot say (composite keys, partitioning).
"""

from __future__ import annotations

import json
from functools import cache

from pymysql.converters import escape_string

from memora import runtime

VARCHAR_LEN = 140

# frappe/database/mariadb/database.py: MariaDBDatabase.setup_type_map (v15)
TYPE_MAP: dict[str, tuple[str, str]] = {
	"Currency": ("decimal", "21,9"),
	"Int": ("int", "11"),
	"Long Int": ("bigint", "20"),
	"Float": ("decimal", "21,9"),
	"Percent": ("decimal", "21,9"),
	"Check": ("int", "1"),
	"Small Text": ("text", ""),
	"Long Text": ("longtext", ""),
	"Code": ("longtext", ""),
	"Text Editor": ("longtext", ""),
	"Markdown Editor": ("longtext", ""),
	"HTML Editor": ("longtext", ""),
	"Date": ("date", ""),
	"Datetime": ("datetime", "6"),
	"Time": ("time", "6"),
	"Text": ("text", ""),
	"Data": ("varchar", str(VARCHAR_LEN)),
	"Link": ("varchar", str(VARCHAR_LEN)),
	"Dynamic Link": ("varchar", str(VARCHAR_LEN)),
	"Password": ("text", ""),
	"Select": ("varchar", str(VARCHAR_LEN)),
	"Rating": ("decimal", "3,2"),
	"Read Only": ("varchar", str(VARCHAR_LEN)),
	"Attach": ("text", ""),
	"Attach Image": ("text", ""),
	"Signature": ("longtext", ""),
	"Color": ("varchar", str(VARCHAR_LEN)),
	"Barcode": ("longtext", ""),
	"Geolocation": ("longtext", ""),
	"Duration": ("decimal", "21,9"),
	"Icon": ("varchar", str(VARCHAR_LEN)),
	"Phone": ("varchar", str(VARCHAR_LEN)),
	"Autocomplete": ("varchar", str(VARCHAR_LEN)),
	"JSON": ("json", ""),
}
OPTIONAL_COLUMNS = ("_user_tags", "_comments", "_assign", "_liked_by")
DEFAULT_SHORTCUTS = ("_Login", "__user", "_Full Name", "Today", "__today", "now", "Now")


@cache
def load_doctype(doctype: str) -> dict:
	"""The DocType's JSON as exported to the app's module folder."""
	folder = doctype.lower().replace(" ", "_")
	return json.loads((runtime.DOCTYPE_ROOT / folder / f"{folder}.json").read_text())


def table_name(doctype: str) -> str:
	return f"tab{doctype}"


def column_type(fieldtype: str, length: int | None = None, precision: str | None = None) -> str | None:
	"""frappe.database.schema.get_definition for MariaDB; None for fields that hold no value."""
	if fieldtype not in TYPE_MAP:
		return None
	coltype, size = (
		TYPE_MAP["Long Int"] if fieldtype == "Int" and length and length > 11 else TYPE_MAP[fieldtype]
	)
	if length and coltype == "varchar":
		size = str(length)
	elif length and coltype == "int" and length < 11:
		size = str(length)
	return f"{coltype}({size})" if size else coltype


def column_definition(field: dict) -> str | None:
	"""frappe.database.schema.DbColumn.get_definition: type, NOT NULL defaults for numbers, unique."""
	definition = column_type(field["fieldtype"], field.get("length"), field.get("precision"))
	if not definition:
		return None
	default = field.get("default")
	if field["fieldtype"] in ("Check", "Int"):
		definition += f" not null default {int(float(default or 0))}"
	elif field["fieldtype"] in ("Currency", "Float", "Percent"):
		definition += f" not null default {float(default or 0) or 0}"
	elif default and default not in DEFAULT_SHORTCUTS and not str(default).startswith(":"):
		definition += " default '{}'".format(escape_string(str(default)).replace("`", "\\`"))
	if field.get("unique") and definition.split("(")[0] not in ("text", "longtext"):
		definition += " unique"
	return definition


def create_table_sql(doctype: str) -> str:
	"""The CREATE TABLE Frappe v15's MariaDBTable.create would run for this DocType."""
	meta = load_doctype(doctype)
	columns, indexes = [], []
	fields = [f for f in meta["fields"] if not f.get("is_virtual")]
	fields += [{"fieldname": name, "fieldtype": "Text"} for name in OPTIONAL_COLUMNS]
	for field in fields:
		definition = column_definition(field)
		if not definition:
			continue
		columns.append(f"`{field['fieldname']}` {definition}")
		if (
			field.get("search_index")
			and not field.get("unique")
			and TYPE_MAP[field["fieldtype"]][0] not in ("text", "longtext")
		):
			indexes.append(f"index `{field['fieldname']}`(`{field['fieldname']}`)")
	definitions = ",\n".join([*columns, *indexes, "index modified(modified)"])
	return (
		f"create table `{table_name(doctype)}` (\n"
		f"name varchar({VARCHAR_LEN}) primary key,\n"
		"creation datetime(6),\n"
		"modified datetime(6),\n"
		f"modified_by varchar({VARCHAR_LEN}),\n"
		f"owner varchar({VARCHAR_LEN}),\n"
		"docstatus int(1) not null default '0',\n"
		"idx int(8) not null default '0',\n"
		f"{definitions})\n"
		f"ENGINE={meta.get('engine') or 'InnoDB'}\n"
		"ROW_FORMAT=DYNAMIC\n"
		"CHARACTER SET=utf8mb4\n"
		"COLLATE=utf8mb4_unicode_ci"
	)


def table_doctypes() -> list[str]:
	"""Every DocType of the app that has a table of its own (Singles live in tabSingles)."""
	doctypes = []
	for path in sorted(runtime.DOCTYPE_ROOT.glob("*/*.json")):
		meta = json.loads(path.read_text())
		if meta.get("doctype") == "DocType" and not meta.get("issingle"):
			doctypes.append(meta["name"])
	return doctypes


def create_tables() -> None:
	"""Create every missing table of the app (standalone only)."""
	database = runtime.db()
	existing = {row[0] for row in database.sql("show tables")}
	for doctype in table_doctypes():
		if table_name(doctype) not in existing:
			database.sql_ddl(create_table_sql(doctype))
