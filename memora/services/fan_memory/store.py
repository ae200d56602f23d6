"""SQL for fan memory: reads bounded by MariaDB's max_statement_time, the save's writes, the
GDPR erase and the per-creator statistics.

Row names are derived from the pair (and the event id), so every row of one pair shares a name
prefix: InnoDB clusters them on a few pages, and a retried insert of the same event hits the
primary key like it hits the (creator_id, fan_id, event_id) unique key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from memora import runtime
from memora.services.fan_memory import engagement
from memora.services.fan_memory.events import Interaction, pair_key
from memora.services.fan_memory.update import COUNTERS
from memora.services.tables import AUDIT_LOG, FAN_MEMORY, INTERACTIONS

JSON_COLUMNS = ("personality_profile", "preferences", "emotional_state")
MEMORY_COLUMNS = (
	"fan_id",
	"creator_id",
	"calibrated",
	"engagement_score",
	*COUNTERS.values(),
	"total_spent",
	"first_interaction",
	"last_interaction",
	*JSON_COLUMNS,
	"modified",
)
MESSAGE_COLUMNS = ("fan_id", "name", "content", "timestamp", "sentiment", "metadata")


def pair_hash(fan_id: str, creator_id: str) -> str:
	fan, creator = pair_key(fan_id, creator_id)
	return hashlib.sha1(f"{creator}\0{fan}".encode()).hexdigest()


def memory_name(fan_id: str, creator_id: str) -> str:
	return pair_hash(fan_id, creator_id)[:20]


def interaction_name(fan_id: str, creator_id: str, event_id: str) -> str:
	return pair_hash(fan_id, creator_id)[:16] + hashlib.sha1(event_id.encode()).hexdigest()[:16]


def bounded(query: str, seconds: float) -> str:
	"""The query cut off by MariaDB after `seconds` (error 1969, see runtime.is_statement_timeout)."""
	return f"SET STATEMENT max_statement_time={float(seconds):.3f} FOR {query}"


def _placeholders(count: int) -> str:
	return ", ".join(["%s"] * count)


def _columns(columns) -> str:
	return ", ".join(f"`{c}`" for c in columns)


def _decode(row: dict) -> dict:
	row = dict(row)
	for column in (*JSON_COLUMNS, "metadata"):
		if isinstance(row.get(column), str):
			row[column] = json.loads(row[column])
	for column in ("engagement_score", "total_spent", "sentiment"):
		if row.get(column) is not None:
			row[column] = float(row[column])
	return row


def fetch_memories(creator_id: str, fan_ids: list[str], timeout: float) -> dict[str, dict]:
	"""Fan Memory rows of these fans of one creator, by lower-cased fan id; one round trip."""
	rows = runtime.db().sql(
		bounded(
			f"select {_columns(MEMORY_COLUMNS)} from {FAN_MEMORY} "
			f"where creator_id = %s and fan_id in ({_placeholders(len(fan_ids))})",
			timeout,
		),
		(creator_id, *fan_ids),
		as_dict=True,
	)
	return {row["fan_id"].lower(): _decode(row) for row in rows}


def fetch_recent_messages(
	creator_id: str, fan_ids: list[str], limit: int, timeout: float
) -> dict[str, list[dict]]:
	"""The latest `limit` messages of each fan, oldest first, by lower-cased fan id; one round trip
	of one index range read per fan."""
	per_fan = (
		f"(select {_columns(MESSAGE_COLUMNS)} from {INTERACTIONS} "
		"where creator_id = %s and fan_id = %s and interaction_type = 'message' "
		"order by `timestamp` desc, name desc limit %s)"
	)
	fans = list(dict.fromkeys(fan_id.lower() for fan_id in fan_ids))
	rows = runtime.db().sql(
		bounded(" union all ".join([per_fan] * len(fans)), timeout),
		[value for fan in fans for value in (creator_id, fan, int(limit))],
		as_dict=True,
	)
	messages: dict[str, list[dict]] = {fan: [] for fan in fans}
	for row in rows:
		messages[row["fan_id"].lower()].append(_decode(row))
	return {fan: latest_first[::-1] for fan, latest_first in messages.items()}


def insert_interaction(
	event: Interaction, sentiment: float | None, version: datetime, timeout: float
) -> bool:
	"""Store the event; False when this event (same pair and event_id) is already stored. Its `modified`
	is `version`, the pair's new version, written under the pair's lock: a pair's rows therefore commit
	in `modified` order, which recall's incremental loads rely on (`vectors.pair_rows`). A row without
	text has nothing to embed: its embedding_model is '' rather than NULL (= waiting for the job)."""
	try:
		runtime.db().sql(
			bounded(
				f"insert into {INTERACTIONS} (name, creation, modified, fan_id, creator_id, "
				"interaction_type, `timestamp`, amount, sentiment, event_id, content, metadata, "
				f"embedding_model) values ({_placeholders(13)})",
				timeout,
			),
			(
				interaction_name(event.fan_id, event.creator_id, event.event_id),
				runtime.now(),
				version,
				event.fan_id,
				event.creator_id,
				event.type,
				runtime.from_ts(event.ts),
				event.amount or 0,  # Currency and Float columns are NOT NULL in Frappe's schema
				sentiment or 0,
				event.event_id,
				event.content,
				json.dumps(event.metadata) if event.metadata is not None else None,
				None if event.content else "",
			),
		)
	except Exception as e:
		if runtime.is_duplicate_entry(e):
			return False
		raise
	return True


def lock_memory(fan_id: str, creator_id: str, timeout: float) -> dict | None:
	"""The pair's row, locked until the transaction ends (None for a new pair)."""
	rows = runtime.db().sql(
		bounded(
			f"select {_columns(MEMORY_COLUMNS)} from {FAN_MEMORY} "
			"where fan_id = %s and creator_id = %s for update",
			timeout,
		),
		(fan_id, creator_id),
		as_dict=True,
	)
	return _decode(rows[0]) if rows else None


def _values(row: dict, columns) -> list:
	return [json.dumps(row[c]) if c in JSON_COLUMNS and row[c] is not None else row[c] for c in columns]


def insert_memory(row: dict, timeout: float) -> None:
	"""A new pair's row; a concurrent first save of the same pair makes this a duplicate entry."""
	runtime.db().sql(
		bounded(
			f"insert into {FAN_MEMORY} (name, creation, {_columns(MEMORY_COLUMNS)}) "
			f"values ({_placeholders(len(MEMORY_COLUMNS) + 2)})",
			timeout,
		),
		(memory_name(row["fan_id"], row["creator_id"]), row["modified"], *_values(row, MEMORY_COLUMNS)),
	)


def update_memory(row: dict, timeout: float) -> None:
	"""Write a locked row back."""
	columns = [c for c in MEMORY_COLUMNS if c not in ("fan_id", "creator_id")]
	runtime.db().sql(
		bounded(
			f"update {FAN_MEMORY} set {', '.join(f'`{c}` = %s' for c in columns)} "
			"where fan_id = %s and creator_id = %s",
			timeout,
		),
		(*_values(row, columns), row["fan_id"], row["creator_id"]),
	)


def erase_pair(fan_id: str, creator_id: str) -> tuple[dict[str, int], datetime | None]:
	"""Delete every row of the pair in the caller's transaction (which commits it with the erasure's
	entry): (rows deleted per table, the erased Fan Memory row's `modified`, which the cache tombstones
	must outrank)."""
	database = runtime.db()
	pair = (fan_id, creator_id)
	locked = database.sql(
		f"select modified from {FAN_MEMORY} where fan_id = %s and creator_id = %s for update", pair
	)
	deleted = {}
	for doctype, table in (
		("Interaction", INTERACTIONS),
		("Fan Memory", FAN_MEMORY),
		("SRS Audit Log", AUDIT_LOG),
	):
		database.sql(f"delete from {table} where fan_id = %s and creator_id = %s", pair)
		deleted[doctype] = database.sql("select row_count()")[0][0]
	return deleted, locked[0][0] if locked else None


def creator_stats(creator_id: str, now: datetime, half_life: float) -> dict:
	"""Totals over the creator's Fan Memory rows, with the engagement scores decayed to `now`."""
	row = runtime.db().sql(
		f"""select count(*) as total_fans,
			coalesce(sum(message_count > 0), 0) as fans_with_memory,
			coalesce(sum(message_count), 0) as total_messages,
			coalesce(sum({" + ".join(COUNTERS.values())}), 0) as total_interactions,
			avg({engagement.sql_current("engagement_score", "last_interaction")}) as avg_engagement_score,
			coalesce(sum(calibrated), 0) as calibrated_profiles,
			max(modified) as last_updated
		from {FAN_MEMORY} where creator_id = %(creator_id)s""",
		{"creator_id": creator_id, "now": now, "half_life": half_life},
		as_dict=True,
	)[0]
	return dict(row)
