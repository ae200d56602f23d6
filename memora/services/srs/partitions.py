"""LIST COLUMNS partitioning by season of the tracker table and the review log.

Invariants, for each of the two tables: its primary key is (name, season), every unique key includes
season, a DEFAULT partition exists so an insert for a season without a partition of its own never
fails, and every row sits in the partition its season maps to (so a query on its season, pruned to that
partition, finds it). Both tables have the same season partitions: every operation here acts on both.

Two MariaDB (10.11) behaviours shape how a season's partition is made (tests/test_partitions.py
reproduces the first and checks every split against the second):
- `ADD PARTITION` next to a DEFAULT partition leaves the season's existing rows in DEFAULT, where a
  query on the season no longer looks. So a partition is split off DEFAULT with `REORGANIZE`.
- `REORGANIZE PARTITION p_default INTO (<new>, <default>)` sends every row of the old DEFAULT to the
  first new partition; listing DEFAULT first routes each row correctly. Placement is still checked
  after every split and repaired if the server got it wrong.

Season names reach DDL, which takes no bound parameters: they are validated (ASCII letters, digits,
space, '.', '_', '-') and then quoted, and partition identifiers are hashes, never the name itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from memora import runtime, schema
from memora.exceptions import MemoraError, NotAllowed, ValidationError
from memora.schema import table_name
from memora.services import audit_log, retry, validation
from memora.services.srs import review_log
from memora.services.tables import quoted

PARTITIONED_DOCTYPE = "Player Memory Tracker"  # what the inspection helpers look at unless told
PARTITIONED_DOCTYPES = (PARTITIONED_DOCTYPE, review_log.DOCTYPE)
PARTITION_COLUMN = "season"
DEFAULT_PARTITION = "p_default"
# Partition DDL waits for every open transaction on the table, and every new one waits behind it (the
# review writes included). So it waits only briefly, lets the queued writes through, and tries again:
# DDL_ATTEMPTS times, backing off from half a second to 8 s (about three minutes in all).
DDL_LOCK_WAIT_SECONDS = 1
DDL_ATTEMPTS = 25
# How long a second creator of one season's partitions waits for the first to finish.
SEASON_LOCK_SECONDS = 300


def partition_id(season: str) -> str:
	"""Deterministic partition identifier for a season.

	MariaDB compares partition values with the column's case-insensitive collation (for the characters
	a season name may hold, equal means equal after case folding), so the id hashes the case-folded
	name: two names that land in the same partition share one id, and two that do not would need a
	96-bit SHA-256 prefix collision (checked at creation) to clash.
	"""
	validation.season_name(season)
	return "p_" + hashlib.sha256(season.casefold().encode()).hexdigest()[:24]


def quote_value(season: str) -> str:
	"""A validated season name as an SQL string literal (DDL takes no bound parameters)."""
	validation.season_name(season)
	return "'" + season.replace("\\", "\\\\").replace("'", "''") + "'"


def ddl(statement: str) -> None:
	"""Run DDL with a short metadata-lock wait, retried while open transactions hold the table (it
	commits the caller's transaction first)."""
	for attempt in retry.policy(
		"partition_ddl", "partition.ddl_retry", DDL_ATTEMPTS, 0.5, 8.0, 0.3, runtime.is_lock_wait_timeout
	):
		with attempt:
			runtime.db().sql_ddl(f"set statement lock_wait_timeout={DDL_LOCK_WAIT_SECONDS} for {statement}")


@contextmanager
def table_locked(doctypes: tuple[str, ...] = PARTITIONED_DOCTYPES) -> Iterator[None]:
	"""Hold a write lock on the tables, so a check and the DDL that relies on it see the same rows."""
	database = runtime.db()
	ddl("lock tables " + ", ".join(f"{quoted(doctype)} write" for doctype in doctypes))
	try:
		yield
	finally:
		database.sql("unlock tables")


@contextmanager
def season_locked(season: str) -> Iterator[None]:
	"""A server-wide advisory lock per (database, partition): two creators of one season's partitions
	take turns, so each table's partition is made once and exactly one of them reports it created."""
	database = runtime.db()
	scope = f"{database.sql('select database()')[0][0]}\0{partition_id(season)}"
	name = "memora-partition-" + hashlib.sha256(scope.encode()).hexdigest()[:40]  # lock names: 64 at most
	if not database.sql("select get_lock(%s, %s)", (name, SEASON_LOCK_SECONDS))[0][0]:
		raise MemoraError(f"another process has been creating season {season!r}'s partitions for too long")
	try:
		yield
	finally:
		database.sql("select release_lock(%s)", (name,))


# --- inspecting the table ------------------------------------------------------------------------


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


def partitions(doctype: str = PARTITIONED_DOCTYPE) -> dict[str, str | None]:
	"""Partition name -> its VALUES as MariaDB shows them (`'Season'`), in order; empty if unpartitioned."""
	rows = runtime.db().sql(
		"""select partition_name, partition_description from information_schema.partitions
		where table_schema = database() and table_name = %s and partition_name is not null
		order by partition_ordinal_position""",
		(table_name(doctype),),
	)
	return dict(rows)


def has_partition(season: str, doctype: str = PARTITIONED_DOCTYPE) -> bool:
	return partition_id(season) in partitions(doctype)


def with_partition(season: str) -> tuple[str, ...]:
	"""The partitioned tables (DocTypes) that have `season`'s partition."""
	partition = partition_id(season)
	return tuple(doctype for doctype in PARTITIONED_DOCTYPES if partition in partitions(doctype))


def partition_rows(partition: str, doctype: str = PARTITIONED_DOCTYPE) -> int:
	"""Exact number of rows stored in one partition (information_schema only estimates)."""
	return runtime.db().sql(f"select count(*) from {quoted(doctype)} partition (`{partition}`)")[0][0]


def misplaced_rows(season: str, doctype: str | None = None) -> int:
	"""Rows that sit in the wrong place for `season`: other seasons' rows inside its partition, plus its
	own rows left in DEFAULT, in one table or in every table that has the partition. `strcmp` keeps
	MariaDB from pruning the scan away."""
	partition = partition_id(season)
	database = runtime.db()
	misplaced = 0
	for table in [quoted(doctype)] if doctype else [quoted(d) for d in with_partition(season)]:
		misplaced += database.sql(
			f"select count(*) from {table} partition (`{partition}`) where strcmp(season, %s) <> 0",
			(season,),
		)[0][0]
		misplaced += database.sql(
			f"select count(*) from {table} partition (`{DEFAULT_PARTITION}`) where strcmp(season, %s) = 0",
			(season,),
		)[0][0]
	return misplaced


def record(operation: str, season: str, partition: str, rows: int, **details) -> None:
	"""Partition DDL is rare and can move or destroy rows: each one gets an audit row and a log line."""
	audit_log.write(
		[
			audit_log.entry(
				operation,
				"Success",
				season=season,
				row_count=rows,
				details={"partition": partition, **details},
			)
		]
	)
	runtime.log(operation, season=season, partition=partition, rows=rows, **details)


# --- changing the table --------------------------------------------------------------------------


def ensure_partitioned_table(doctype: str | None = None) -> None:
	"""Convert Frappe's plain tables (or one of them) to the partitioned shape, then give every table the
	season partitions the other has (the review log, new on an upgraded site, gets the tracker's). A
	no-op when they already have it, so the season partitions survive every `bench migrate`."""
	for each in PARTITIONED_DOCTYPES if doctype is None else (doctype,):
		table = quoted(each)
		if primary_key(each) != ("name", PARTITION_COLUMN):
			ddl(f"alter table {table} drop primary key, add primary key (`name`, `{PARTITION_COLUMN}`)")
		if partition_method(each) != "LIST COLUMNS":
			ddl(
				f"alter table {table} partition by list columns (`{PARTITION_COLUMN}`) "
				f"(partition `{DEFAULT_PARTITION}` default)"
			)
		elif DEFAULT_PARTITION not in partitions(each):
			# Without a DEFAULT partition every row already sits in its season's partition: adding one moves nothing.
			ddl(f"alter table {table} add partition (partition `{DEFAULT_PARTITION}` default)")
	if all(partition_method(each) == "LIST COLUMNS" for each in PARTITIONED_DOCTYPES):
		for season in sorted({season for each in PARTITIONED_DOCTYPES for season in season_partitions(each)}):
			create_partition(season)


def season_partitions(doctype: str) -> list[str]:
	"""The seasons with a partition of their own in one table, as `create_partition` makes them (a
	partition made by hand, with another name or several values, is left out)."""
	seasons = []
	for name, values in partitions(doctype).items():
		season = _season_of(values or "") if name != DEFAULT_PARTITION else None
		try:
			if season is not None and partition_id(season) == name:
				seasons.append(season)
		except ValidationError:
			continue
	return seasons


def _check_no_collision(season: str, values: str | None) -> None:
	if (values or "").casefold() != quote_value(season).casefold():
		raise MemoraError(f"partition {partition_id(season)} already holds {values}, not {season!r}")


def _split_off_default(season: str, doctype: str) -> bool:
	"""Give `season` its partition in one table (its rows in DEFAULT move in); False if it had one."""
	partition = partition_id(season)
	if partition in (existing := partitions(doctype)):
		_check_no_collision(season, existing[partition])
		return False
	try:
		ddl(
			f"alter table {quoted(doctype)} reorganize partition `{DEFAULT_PARTITION}` into ("
			f"partition `{DEFAULT_PARTITION}` default, "
			f"partition `{partition}` values in ({quote_value(season)}))"
		)
	except Exception:
		runtime.db().rollback()
		# Lost a race with a creator that does not take the season's lock: theirs is as good as ours.
		if partition not in (existing := partitions(doctype)):
			raise
		_check_no_collision(season, existing[partition])
		return False
	if misplaced_rows(season, doctype):
		repair_partition(season)
	return True


def create_partition(season: str) -> dict:
	"""Give `season` its own partition in both tables; their rows already in DEFAULT move in. Idempotent.

	Returns {season, partition, created, moved_rows}: `created` if a table got the partition now,
	`moved_rows` the rows it now holds in the tables that got it (each table's count is in the audit row).
	"""
	partition = partition_id(season)
	moved: dict[str, int] = {}
	with season_locked(season):
		for doctype in PARTITIONED_DOCTYPES:
			if _split_off_default(season, doctype):
				moved[doctype] = partition_rows(partition, doctype)
	if moved:
		record("create_partition", season, partition, sum(moved.values()), tables=moved)
	return {
		"season": season,
		"partition": partition,
		"created": bool(moved),
		"moved_rows": sum(moved.values()),
	}


def repair_partition(season: str) -> int:
	"""Move rows the server misplaced between `season`'s partition and DEFAULT back where they belong,
	in every table that has the partition. Returns how many were misplaced; raises if any still are."""
	partition = partition_id(season)
	tables = with_partition(season)
	if not tables:
		raise NotAllowed(f"season {season!r} has no partition")
	found = {doctype: misplaced_rows(season, doctype) for doctype in tables}
	for doctype, misplaced in found.items():
		if misplaced:
			ddl(f"alter table {quoted(doctype)} repair partition `{DEFAULT_PARTITION}`, `{partition}`")
	misplaced = sum(found.values())
	if misplaced:
		remaining = misplaced_rows(season)
		record("repair_partition", season, partition, misplaced, tables=found, still_misplaced=remaining)
		if remaining:
			raise MemoraError(f"{remaining} rows of partition {partition} are still misplaced after REPAIR")
	return misplaced


def drop_partition(season: str, force: bool = False) -> dict:
	"""Drop `season`'s partition from both tables. Refused while they hold rows unless `force`, which
	deletes them (an archived season's review log stays in its partition until retention deletes it).

	The row counts and the DROPs run under one lock of both tables, so no row slips in between. Later rows
	of the season land in DEFAULT. Returns {season, partition, dropped, rows} (rows of both tables).
	"""
	partition = partition_id(season)
	tables = with_partition(season)
	if not tables:
		return {"season": season, "partition": partition, "dropped": False, "rows": 0}
	with table_locked():
		counts = {doctype: partition_rows(partition, doctype) for doctype in tables}
		rows = sum(counts.values())
		if rows and not force:
			held = ", ".join(f"{doctype}: {count}" for doctype, count in counts.items() if count)
			raise NotAllowed(
				f"partition of season {season!r} still holds {rows} rows ({held}): archive the season "
				"first (the review log stays until retention deletes it), or force the drop to delete them"
			)
		for doctype in tables:
			runtime.db().sql(f"alter table {quoted(doctype)} drop partition `{partition}`")
	record("drop_partition", season, partition, rows, tables=counts, forced=bool(force))
	return {"season": season, "partition": partition, "dropped": True, "rows": rows}


def partition_fingerprint(season: str, doctype: str = PARTITIONED_DOCTYPE) -> tuple[int, object]:
	"""(row count, latest `modified`) of the season's partition: changes whenever a row is written."""
	row = runtime.db().sql(
		f"select count(*), max(modified) from {quoted(doctype)} partition (`{partition_id(season)}`)"
	)
	return row[0][0], row[0][1]


def truncate_partition(
	season: str, unchanged_since: tuple[int, object], doctype: str = PARTITIONED_DOCTYPE
) -> bool:
	"""Empty the season's partition of one table in one DDL step, but only if its fingerprint is still
	`unchanged_since` (checked under a lock of that table). Returns whether it was emptied."""
	with table_locked((doctype,)):
		if partition_fingerprint(season, doctype) != unchanged_since:
			return False
		runtime.db().sql(f"alter table {quoted(doctype)} truncate partition `{partition_id(season)}`")
	return True


def _season_of(values: str) -> str | None:
	"""The season of a one-value partition as create_partition makes it (`'Name'`), else None."""
	if len(values) >= 2 and values[0] == values[-1] == "'" and "," not in values:
		return values[1:-1]
	return None


def list_partitions(doctype: str = PARTITIONED_DOCTYPE) -> list[dict]:
	"""The table's partitions in order: {partition, season, values, is_default, rows, data_bytes,
	index_bytes}. `rows` is InnoDB's estimate from information_schema. Empty for an unpartitioned table."""
	if doctype not in schema.table_doctypes():
		raise ValidationError("doctype", f"{doctype!r} is not a Memora DocType with a table")
	rows = runtime.db().sql(
		"""select partition_name, partition_description, table_rows, data_length, index_length
		from information_schema.partitions
		where table_schema = database() and table_name = %s and partition_name is not null
		order by partition_ordinal_position""",
		(table_name(doctype),),
	)
	return [
		{
			"partition": name,
			"season": None if name == DEFAULT_PARTITION else _season_of(values or ""),
			# information_schema shows DEFAULT as MAXVALUE for LIST COLUMNS, which reads like a range bound.
			"values": "DEFAULT" if name == DEFAULT_PARTITION else values,
			"is_default": name == DEFAULT_PARTITION,
			"rows": int(table_rows or 0),
			"data_bytes": int(data_length or 0),
			"index_bytes": int(index_length or 0),
		}
		for name, values, table_rows, data_length, index_length in rows
	]
