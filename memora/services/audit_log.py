"""SRS Audit Log rows: what persistence, archiving and reconciliation did or failed to do.

Every row carries the correlation id of the operation that wrote it, so one id ties together the
submission, each retry of its background job, the final outcome and an admin's replay. Rows are
written with plain SQL through the runtime seam (no document hooks), so writing them is cheap enough
for hot paths and works the same inside and outside a site.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from memora import runtime
from memora.schema import VARCHAR_LEN, load_doctype
from memora.services.tables import AUDIT_LOG

COLUMNS = (
	"name",
	"creation",
	"modified",
	"modified_by",
	"owner",
	"operation",
	"status",
	"correlation_id",
	"job_id",
	"attempt",
	"player",
	"season",
	"fan_id",
	"creator_id",
	"row_count",
	"details",
	"error",
)
# Long enough for a traceback's tail, short enough that a flood of failures cannot bloat the table.
ERROR_MAX = 10_000


def statuses() -> tuple[str, ...]:
	"""The Status options of the DocType (Success, Retry, Failed, Correction, Replayed)."""
	field = next(f for f in load_doctype("SRS Audit Log")["fields"] if f["fieldname"] == "status")
	return tuple(field["options"].split("\n"))


def _short(value: Any) -> str | None:
	return None if value is None else str(value)[:VARCHAR_LEN]


def entry(
	operation: str,
	status: str,
	*,
	correlation_id: str | None = None,
	job_id: str | None = None,
	attempt: int = 0,
	player: str | None = None,
	season: str | None = None,
	fan_id: str | None = None,
	creator_id: str | None = None,
	row_count: int = 0,
	details: dict | None = None,
	error: BaseException | str | None = None,
) -> dict:
	"""One audit row, ready to write. The correlation id defaults to the current operation's."""
	if status not in statuses():
		raise ValueError(f"status must be one of {statuses()}, not {status!r}")
	now = runtime.now()
	return {
		"name": secrets.token_hex(10),
		"creation": now,
		"modified": now,
		"modified_by": "Administrator",
		"owner": "Administrator",
		"operation": _short(operation),
		"status": status,
		"correlation_id": _short(correlation_id or runtime.correlation_id()),
		"job_id": _short(job_id),
		"attempt": int(attempt),
		"player": _short(player),
		"season": _short(season),
		"fan_id": _short(fan_id),
		"creator_id": _short(creator_id),
		"row_count": int(row_count),
		"details": None if details is None else json.dumps(details, default=str, sort_keys=True),
		"error": None if error is None else _error_text(error)[-ERROR_MAX:],
	}


def _error_text(error: BaseException | str) -> str:
	if isinstance(error, BaseException):
		return f"{type(error).__name__}: {error}"
	return error


def add(entries: Iterable[dict]) -> int:
	"""Insert rows in the caller's transaction (they commit or roll back with the caller's work)."""
	rows = list(entries)
	if rows:
		placeholders = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(rows))
		runtime.db().sql(
			f"insert into {AUDIT_LOG} ({', '.join(f'`{c}`' for c in COLUMNS)}) values {placeholders}",
			[row[c] for row in rows for c in COLUMNS],
		)
	return len(rows)


def write(entries: Iterable[dict]) -> bool:
	"""Insert and commit rows on their own, for failure paths where the caller's work was rolled back.

	Commits: call it only when the caller has no uncommitted work. Best effort, because it runs when the
	database may be the very thing failing: if the rows cannot be written they go to the log instead
	(with their correlation id) and False is returned.
	"""
	rows = list(entries)
	try:
		add(rows)
		runtime.db().commit()
	except Exception as exc:  # whatever went wrong, it must not hide the failure being recorded
		runtime.reset_db_after_error()
		for row in rows:
			runtime.log("audit_log_unwritten", logging.ERROR, row=row, reason=str(exc))
		return False
	return True


def rows_for_job(job_id: str, operation: str | None = None) -> list[dict]:
	"""Every row written for a job id, oldest first."""
	condition = " and operation = %(operation)s" if operation else ""
	return runtime.db().sql(
		f"select * from {AUDIT_LOG} where job_id = %(job_id)s{condition} order by creation, name",
		{"job_id": job_id, "operation": operation},
		as_dict=True,
	)
