"""Cards scheduled or retired by a caller rather than by a review: the service API's `add_item`,
`add_batch` and `remove_item` write the tracker rows here, so MariaDB, and therefore every rebuild,
rehydration and reconciliation, agrees with what the caller did.

Scheduling creates the card's row (state New) or moves its next review date; the card's memory state
is kept. Retiring deletes the row: a tracker is the card's whole schedule, and Desk's delete does the
same. A review of the card accepted before the removal and not yet persisted still lands (its write
creates the row again), as it would after a Desk delete: the queue shows it meanwhile, by the rule that
pending reviews are laid over the rows.
"""

from __future__ import annotations

from memora import runtime
from memora.schema import table_name
from memora.services.srs_persistence import tracker_name

TABLE = f"`{table_name('Player Memory Tracker')}`"


def schedule(user: str, season: str, scores: dict[str, float]) -> None:
	"""Create or move each card's tracker (question id -> next review Unix time) and commit."""
	now = runtime.now()
	rows = [
		(tracker_name(user, season, qid), now, now, user, user, user, season, qid, runtime.from_ts(ts))
		for qid, ts in sorted(scores.items())
	]
	database = runtime.db()
	try:
		database.sql(
			f"insert into {TABLE} (name, creation, modified, owner, modified_by, player, season, question_id, "
			"next_review_date, state) values "
			+ ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'New')"] * len(rows))
			+ " on duplicate key update next_review_date = values(next_review_date), "
			"modified = values(modified), modified_by = values(modified_by)",
			[value for row in rows for value in row],
		)
		database.commit()
	except Exception:
		runtime.reset_db_after_error()
		raise


def retire(user: str, season: str, question_ids: list[str]) -> None:
	"""Delete the cards' trackers and commit."""
	database = runtime.db()
	try:
		database.sql(
			f"delete from {TABLE} where player = %s and season = %s and question_id in "
			f"({', '.join(['%s'] * len(question_ids))})",
			(user, season, *question_ids),
		)
		database.commit()
	except Exception:
		runtime.reset_db_after_error()
		raise
