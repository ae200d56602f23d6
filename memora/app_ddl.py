"""What DocType JSON cannot declare: composite keys.

`apply()` is idempotent; `memora.install.shape_tables` runs it (and the season partitioning of the
tracker table and the review log) after
Frappe syncs a table (`after_install`, `after_migrate`, the controllers' `on_doctype_update`) and after
the standalone schema is built, so both worlds end with the same keys.
"""

from __future__ import annotations

from typing import NamedTuple

from memora import runtime
from memora.schema import table_name


class Key(NamedTuple):
	doctype: str
	name: str
	columns: tuple[str, ...]
	unique: bool = False


KEYS = (
	# One tracker per card; includes the partition column, as every unique key of a partitioned table must.
	Key("Player Memory Tracker", "player_season_question", ("player", "season", "question_id"), unique=True),
	# Covers the safe-mode "due now" query, so MariaDB answers it from the index alone.
	Key(
		"Player Memory Tracker", "player_season_due", ("player", "season", "next_review_date", "question_id")
	),
	Key(
		"Archived Memory Tracker", "player_season_question", ("player", "season", "question_id"), unique=True
	),
	Key("Archived Memory Tracker", "season_eligible", ("season", "eligible_for_deletion")),
	# A card's history, in order, from its season's partition (the primary key is (review id, season)).
	Key(
		"Memora Review Log",
		"player_season_question_reviewed",
		("player", "season", "question_id", "reviewed_at"),
	),
	Key("Fan Memory", "fan_creator", ("fan_id", "creator_id"), unique=True),
	Key("Fan Memory", "creator_fan", ("creator_id", "fan_id")),
	Key("Interaction", "creator_fan_timestamp", ("creator_id", "fan_id", "timestamp")),
	Key("Interaction", "creator_fan_event", ("creator_id", "fan_id", "event_id"), unique=True),
	# Recall's incremental load of a pair: the rows written since the index it holds.
	Key("Interaction", "creator_fan_modified", ("creator_id", "fan_id", "modified")),
	# The embedding job's work list: rows whose embedding_model is still NULL.
	Key("Interaction", "embedding_model", ("embedding_model",)),
	Key("SRS Audit Log", "creator_fan", ("creator_id", "fan_id")),
	Key("SRS Audit Log", "job_id", ("job_id",)),
	# An erasure deletes a person's audit rows through these, locking only theirs.
	Key("SRS Audit Log", "player", ("player",)),
	Key("SRS Audit Log", "fan_id", ("fan_id",)),
	# Failed batches awaiting replay are looked up by operation and status, newest first.
	Key("SRS Audit Log", "operation_status_creation", ("operation", "status", "creation")),
)


def index_columns(doctype: str) -> dict[str, tuple[str, ...]]:
	"""Index name -> its columns in order, as the table has them now."""
	rows = runtime.db().sql(
		"""select index_name, column_name from information_schema.statistics
		where table_schema = database() and table_name = %s order by index_name, seq_in_index""",
		(table_name(doctype),),
	)
	indexes: dict[str, tuple[str, ...]] = {}
	for index_name, column in rows:
		indexes[index_name] = (*indexes.get(index_name, ()), column)
	return indexes


def ensure_key(key: Key) -> None:
	if key.name in index_columns(key.doctype):
		return
	kind = "unique index" if key.unique else "index"
	columns = ", ".join(f"`{c}`" for c in key.columns)
	runtime.db().sql_ddl(f"alter table `{table_name(key.doctype)}` add {kind} `{key.name}` ({columns})")


def apply(doctype: str | None = None) -> None:
	"""Give one DocType's table (or all of them) the app's keys; safe to run any number of times."""
	for key in KEYS:
		if doctype in (None, key.doctype):
			ensure_key(key)
