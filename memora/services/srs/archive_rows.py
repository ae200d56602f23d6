"""What archiving and retention share: the columns and statement that copy live rows to the archive,
chunked walks of a table by name, progress, and their background jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from memora import runtime, schema
from memora.services.srs.card import tracker_name_sql
from memora.services.tables import ARCHIVED_TRACKERS, TRACKERS

Progress = Callable[[int, int], None]

STANDARD_COLUMNS = ("creation", "modified", "modified_by", "owner", "docstatus", "idx")
# The archive's name is derived from its unique key, as the live row's is, so the primary key and the
# unique key reject the same duplicates.
ARCHIVE_NAME_SQL = tracker_name_sql("player", "season", "question_id")


def copied_columns() -> tuple[str, ...]:
	"""Columns both tables have (standard ones and the fields of both DocTypes), in the live table's order."""
	archive_fields = {f["fieldname"] for f in schema.load_doctype("Archived Memory Tracker")["fields"]}
	fields = tuple(
		f["fieldname"]
		for f in schema.load_doctype("Player Memory Tracker")["fields"]
		if schema.column_type(f["fieldtype"]) and f["fieldname"] in archive_fields
	)
	return STANDARD_COLUMNS + fields


def copy_sql(partition: str, condition: str, refresh: bool = False) -> str:
	"""Copy the rows of a live partition matching `condition` into the archive. `INSERT IGNORE` skips
	cards already archived; `refresh` overwrites them instead (slower), for copies an earlier run made
	of rows that have changed since."""
	columns = copied_columns()
	column_list = ", ".join(f"`{c}`" for c in columns)
	updates = ", ".join(f"`{c}` = values(`{c}`)" for c in columns)
	return (
		f"insert {'' if refresh else 'ignore '}into {ARCHIVED_TRACKERS} (name, {column_list}, archived_at, "
		f"eligible_for_deletion) select {ARCHIVE_NAME_SQL}, {column_list}, %s, 0 "
		f"from {TRACKERS} partition (`{partition}`) where {condition}"
		+ (f" on duplicate key update {updates}" if refresh else "")
	)


def name_ranges(
	source: str, chunk: int, where: str = "1", params: tuple = ()
) -> Iterator[tuple[str, str | None]]:
	"""Consecutive `name` ranges (after, upto] of at most `chunk` matching rows, the last one open
	(upto None). Keyset pagination: each chunk is one index range, found after the previous chunk is
	done, so rows changed inside earlier ranges never shift later ones."""
	database = runtime.db()
	after = ""
	while True:
		row = database.sql(
			f"select name from {source} where {where} and name > %s order by name limit 1 offset %s",
			(*params, after, chunk - 1),
		)
		upto = row[0][0] if row else None
		yield after, upto
		if upto is None:
			return
		after = upto


def range_condition(after: str, upto: str | None, column: str = "name") -> tuple[str, tuple]:
	"""SQL for one range from `name_ranges`, with its parameters."""
	if upto is None:
		return f"{column} > %s", (after,)
	return f"{column} > %s and {column} <= %s", (after, upto)


def report(progress: Progress | None, title: str, done: int, total: int) -> None:
	"""Desk's realtime bar (or a log line) and the caller's callback (the CLI's bar)."""
	runtime.publish_progress(title, done, total)
	if progress:
		progress(done, total)


def queue_long_job(target: str, **kwargs) -> str:
	"""Run an archive or retention function (by dotted path) in the long queue; returns the job id. Runs need no de-duplication:
	each one is idempotent and archiving holds a per-season lock."""
	method = target.rpartition(".")[2]
	job_id = f"memora-{method.replace('_', '-')}-{runtime.new_correlation_id()[:12]}"
	runtime.enqueue(target, queue="long", job_id=job_id, timeout=3600, **kwargs)
	return job_id
