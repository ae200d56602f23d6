"""The standalone tables must be the tables Frappe v15 makes from the same DocType JSON."""

import json

import pytest

from memora import app_ddl, install, runtime, schema
from memora.services.srs import partitions

# Hand-checked against frappe/database/mariadb/schema.py (MariaDBTable.create) and the v15 type map.
EXPECTED_SEASON = """create table `tabMemora Season` (
name varchar(140) primary key,
creation datetime(6),
modified datetime(6),
modified_by varchar(140),
owner varchar(140),
docstatus int(1) not null default '0',
idx int(8) not null default '0',
`season_name` varchar(60) unique,
`is_active` int(1) not null default 0,
`auto_archive` int(1) not null default 0,
`start_date` date,
`end_date` date,
`archive_status` varchar(140) default 'Not Archived',
`archived_on` datetime(6),
`archived_records` int(11) not null default 0,
`archive_error` text,
`desired_retention` decimal(21,9) not null default 0,
`parameters_version` varchar(140),
`parameters_adopted_on` datetime(6),
`fsrs_parameters` json,
`parameter_fits` json,
`_user_tags` text,
`_comments` text,
`_assign` text,
`_liked_by` text,
index modified(modified))
ENGINE=InnoDB
ROW_FORMAT=DYNAMIC
CHARACTER SET=utf8mb4
COLLATE=utf8mb4_unicode_ci"""

EXPECTED_COLUMNS = {
	"Player Memory Tracker": {
		"player": "varchar(140)",
		"season": "varchar(140)",
		"question_id": "varchar(140)",
		"stability": "decimal(21,9) not null default 0",
		"difficulty": "decimal(21,9) not null default 0",
		"state": "varchar(140) default 'New'",
		"reps": "int(11) not null default 0",
		"last_review_date": "datetime(6)",
		"next_review_date": "datetime(6)",
		"last_rating": "int(11) not null default 0",
	},
	"Fan Memory": {
		"engagement_score": "decimal(21,9) not null default 0.5",
		"total_spent": "decimal(21,9) not null default 0",
		"personality_profile": "json",
		"calibrated": "int(1) not null default 0",
	},
	"Interaction": {"content": "longtext", "metadata": "json", "amount": "decimal(21,9) not null default 0"},
}


def test_season_ddl_matches_frappe():
	assert schema.create_table_sql("Memora Season") == EXPECTED_SEASON


@pytest.mark.parametrize("doctype", sorted(EXPECTED_COLUMNS))
def test_column_definitions(doctype):
	ddl = schema.create_table_sql(doctype)
	for column, definition in EXPECTED_COLUMNS[doctype].items():
		assert f"`{column}` {definition}," in ddl


def test_search_index_fields_get_frappe_indexes():
	ddl = schema.create_table_sql("Player Memory Tracker")
	assert "index `next_review_date`(`next_review_date`)" in ddl
	assert "index modified(modified)" in ddl


def test_every_table_is_innodb_utf8mb4(db):
	rows = db.sql(
		"""select table_name, engine, table_collation, row_format from information_schema.tables
		where table_schema = database()""",
		as_dict=True,
	)
	by_name = {r["table_name"]: r for r in rows}
	for doctype in schema.table_doctypes():
		row = by_name[schema.table_name(doctype)]
		assert (row["engine"], row["table_collation"], row["row_format"]) == (
			"InnoDB",
			"utf8mb4_unicode_ci",
			"Dynamic",
		)


def test_singles_have_no_table():
	assert "Memora Settings" not in schema.table_doctypes()


def test_doctype_json_is_exported_the_frappe_way():
	"""indent 1, sorted keys, trailing newline: what `bench` writes on export."""
	for path in runtime.DOCTYPE_ROOT.glob("*/*.json"):
		text = path.read_text()
		data = json.loads(text)
		assert (
			text
			== json.dumps(data, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"
		)


def test_tracker_has_no_single_field_unique():
	meta = schema.load_doctype("Player Memory Tracker")
	assert not [f["fieldname"] for f in meta["fields"] if f.get("unique")]


def test_tracker_is_partitioned_with_composite_keys():
	assert partitions.partition_method() == "LIST COLUMNS"
	assert partitions.primary_key() == ("name", "season")
	indexes = app_ddl.index_columns("Player Memory Tracker")
	assert indexes["player_season_question"] == ("player", "season", "question_id")
	assert indexes["player_season_due"] == ("player", "season", "next_review_date", "question_id")


def test_app_ddl_is_idempotent():
	before = {d: app_ddl.index_columns(d) for d in schema.table_doctypes()}
	install.shape_tables()
	install.shape_tables()
	assert {d: app_ddl.index_columns(d) for d in schema.table_doctypes()} == before


def test_adding_a_field_later_keeps_partitioning(db):
	"""What `bench migrate` does when a field is added: ALTER TABLE ADD COLUMN, then after_migrate."""
	table = schema.table_name("Player Memory Tracker")
	db.sql_ddl(f"alter table `{table}` add column `extra_note` varchar(140)")
	try:
		install.shape_tables()
		assert partitions.partition_method() == "LIST COLUMNS"
		assert partitions.primary_key() == ("name", "season")
	finally:
		db.sql_ddl(f"alter table `{table}` drop column `extra_note`")
