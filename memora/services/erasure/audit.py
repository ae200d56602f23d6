"""SRS Audit Log rows of an erased person.

A row about them (its fan_id or player column is their id) is deleted. A row about something else
that merely mentions them in its details or error (a batch or a run that named several people) is
another person's record too, so it stays, with their id replaced by its pseudonym wherever it
appears as a whole token: "bob" goes, "bobby" stays. The person's own rows are deleted through the
player / fan_id index, which locks only them; mentions are found by a plain read (a scan of the table:
erasure is rare and admin-only) and each is rewritten by its name, so the scan locks no row that
persistence or reconciliation may be writing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from memora import runtime
from memora.services.erasure.receipt import Receipt
from memora.services.tables import AUDIT_LOG

# An id is a mention where no id character touches it: a trailing dot ends a sentence, "a.b" goes on.
_BEFORE = r"(?<![\w@.\-])"
_AFTER = r"(?![\w@\-]|\.\w)"


def mention(person: str) -> re.Pattern:
	"""The id as a whole token, in any case (MariaDB compares ids case-insensitively)."""
	return re.compile(_BEFORE + re.escape(person) + _AFTER, re.IGNORECASE)


def _like(text: str) -> str:
	return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _redact(value: Any, found: re.Pattern, subject: str) -> Any:
	"""`value` (parsed JSON) with every mention in its strings and keys replaced by `subject`."""
	if isinstance(value, str):
		return found.sub(subject, value)
	if isinstance(value, list):
		return [_redact(item, found, subject) for item in value]
	if isinstance(value, dict):
		return {found.sub(subject, k): _redact(v, found, subject) for k, v in value.items()}
	return value


def erase(column: str, person: str, receipt: Receipt) -> None:
	"""Delete the rows whose `column` (fan_id or player) is `person` and redact their mentions in the
	others (with the receipt's subject), in the caller's transaction; counted on the receipt."""
	subject = receipt.subject
	database = runtime.db()
	database.sql(f"delete from {AUDIT_LOG} where `{column}` = %s", (person,))
	deleted = database.sql("select row_count()")[0][0]
	found = mention(person)
	spellings = sorted({_like(person), _like(json.dumps(person)[1:-1])})
	condition = " or ".join(["details like %s or error like %s"] * len(spellings))
	rows = database.sql(
		f"select name, details, error from {AUDIT_LOG} where {condition}",
		[like for like in spellings for _ in range(2)],
	)
	redacted = 0
	for name, details, error in rows:
		new_details = details
		if details is not None:
			parsed = json.loads(details)
			cleaned = _redact(parsed, found, subject)
			new_details = details if cleaned == parsed else json.dumps(cleaned, sort_keys=True)
		new_error = None if error is None else found.sub(subject, error)
		if (new_details, new_error) != (details, error):
			database.sql(
				f"update {AUDIT_LOG} set details = %s, error = %s where name = %s",
				(new_details, new_error, name),
			)
			redacted += 1
	receipt.rows["SRS Audit Log"] += deleted
	receipt.redacted["SRS Audit Log"] += redacted
