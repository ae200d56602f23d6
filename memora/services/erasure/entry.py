"""The Memora Erasure row: the one record an erasure leaves, naming its subject by pseudonym only.

The row is inserted first in the erasure's transaction, and persistence reads the rows of its batch's
players with a locking read in its own (`erased_at`): whichever comes first, InnoDB makes the other
wait (the erasure's insert waits on the read's next-key lock under REPEATABLE READ, Frappe's and
MariaDB's default), so a batch queued before an erasure either commits before the erasure deletes its
rows or sees the row and drops its reviews. Nothing the batch carried is written after the erasure.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from memora import runtime
from memora.services.erasure.receipt import Receipt
from memora.services.tables import ERASURES

FAN, PLAYER, PAIR = "fan", "player", "pair"
# Stored instead of the requester when they ask for their own erasure: their id would name them.
THE_SUBJECT = "(the subject)"


def record(kind: str, subject: str, person: str, requested_by: str | None, erased_at: datetime) -> str:
	"""Insert the entry in the caller's transaction (the receipt follows with `set_receipt`); returns
	its name. `person` is the erased id, used only to keep it out of `requested_by`."""
	if requested_by and requested_by.lower() == person.lower():
		requested_by = THE_SUBJECT
	name = secrets.token_hex(10)
	runtime.db().sql(
		f"insert into {ERASURES} (name, creation, modified, owner, modified_by, subject_kind, subject, "
		"erased_at, requested_by, correlation_id) "
		"values (%s, %s, %s, 'Administrator', 'Administrator', %s, %s, %s, %s, %s)",
		(name, erased_at, erased_at, kind, subject, erased_at, requested_by, runtime.correlation_id()),
	)
	return name


def set_receipt(receipt: Receipt) -> None:
	"""Store the receipt on its entry, in the caller's transaction."""
	runtime.db().sql(
		f"update {ERASURES} set receipt = %s where name = %s",
		(json.dumps(receipt.as_dict(), sort_keys=True), receipt.erasure),
	)


def erased_at(kind: str, subjects: list[str]) -> dict[str, float]:
	"""The latest erasure of each of `subjects` that has one, as Unix time, read with a shared lock that
	holds until the caller's transaction ends: an erasure of any of them waits for it."""
	if not subjects:
		return {}
	rows = runtime.db().sql(
		f"select subject, max(erased_at) from {ERASURES} "
		f"where subject_kind = %s and subject in ({', '.join(['%s'] * len(subjects))}) "
		"group by subject lock in share mode",
		(kind, *subjects),
	)
	return {subject: runtime.to_ts(when) for subject, when in rows}
