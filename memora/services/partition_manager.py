"""LIST COLUMNS partitioning of the tracker table by season.

Invariants: the table's primary key is (name, season), every unique key includes season, and a
DEFAULT partition exists so an insert for a season without a partition of its own never fails.
"""

from __future__ import annotations

import hashlib

from memora import runtime
from memora.schema import table_name
from memora.services import validation

PARTITIONED_DOCTYPE = "Player Memory Tracker"
PARTITION_COLUMN = "season"
DEFAULT_PARTITION = "p_default"


def partition_id(season: str) -> str:
	"""Deterministic partition identifier for a season.

	MariaDB compares partition values with the column's case-insensitive collation, so the id hashes
	the case-folded name: two names that land in the same partition share one id, and two that do
	not would need a SHA-256 prefix collision (checked at creation) to clash.
	"""
	validation.season_name(season)
	return "p_" + hashlib.sha256(season.casefold().encode()).hexdigest()[:24]


def quote_value(season: str) -> str:
	"""A validated season name as an SQL string literal (DDL takes no bound parameters)."""
	validation.season_name(season)
	return "'" + season.replace("\\", "\\\\").replace("'", "''") + "'"


def partition_method(doctype: str = PARTITIONED_DOCTYPE) -> str | None:
	rows = runtime.db().sql(
		"""select partition_method from information_schema.partitions
		where table_schema = database() and table_name = %s and partition_name is not null limit 1""",
		(table_name(doctype),),
	)
	return rows[0][0] if rows else None


def primary_key(doctype: str = PARTITIONED_DOCTYPE) -> tuple[str, ...]:
	rows = runtime.db().sql(
		"""select column_name from information_schema.statistics
		where table_schema = database() and table_name = %s and index_name = 'PRIMARY'
		order by seq_in_index""",
		(table_name(doctype),),
	)
	return tuple(row[0] for row in rows)


def ensure_partitioned_table() -> None:
	"""Convert Frappe's plain table to the partitioned shape; a no-op when it already has it."""
	table = table_name(PARTITIONED_DOCTYPE)
	if primary_key() != ("name", PARTITION_COLUMN):
		runtime.db().sql_ddl(
			f"alter table `{table}` drop primary key, add primary key (`name`, `{PARTITION_COLUMN}`)"
		)
	if partition_method() != "LIST COLUMNS":
		runtime.db().sql_ddl(
			f"alter table `{table}` partition by list columns (`{PARTITION_COLUMN}`) "
			f"(partition `{DEFAULT_PARTITION}` default)"
		)
