"""Erasing a fan across every creator: interactions, Fan Memory rows, audit rows, cache entries and
rate-limit counters.

The creators are found by a plain (non-locking) read of the fan's interactions and rows, so the
Interaction table, which is indexed by creator first, is scanned without locking other fans' rows;
the deletes then go through the (creator_id, fan_id) index, one pair at a time. The cache keys of the
fan share one pseudonymous prefix (`fan_memory.cache`), so a SCAN finds them all, even for a pair with
no row (defaults are cached too); they become tombstones, as in `clear_memory`.
"""

from __future__ import annotations

from datetime import datetime

import redis

from memora import runtime
from memora.services import rate_limits, retry
from memora.services.erasure import audit, entry
from memora.services.erasure.receipt import Receipt
from memora.services.fan_memory import cache, events, operation, recall_cache, update
from memora.services.pseudonym import pseudonym
from memora.services.tables import FAN_MEMORY, INTERACTIONS


def erase_fan(fan_id: str, requested_by: str | None = None) -> dict:
	"""GDPR erase of a fan with every creator, irreversible. Returns the receipt: {erasure (the Memora
	Erasure row), subject (the fan's pseudonym), rows: {doctype: count}, keys: {family: count},
	redacted: {doctype: count}}. Logs name the fan by pseudonym only."""
	with operation.run("erase_fan") as fields:
		fan_id = events.party_id(fan_id, "fan_id")
		subject = pseudonym(fan_id)
		fields["subject"] = subject
		erasing = retry.waited_on("memory.erase_fan", "memory.retry", runtime.is_transient_db_error)
		try:
			receipt, creators, modified = erasing(_erase_rows, fan_id, subject, requested_by)
		except Exception as e:
			if not runtime.is_db_error(e):
				raise
			raise operation.failure(e, "erase_fan", subject=subject) from e
		try:
			_erase_keys(fan_id, creators, modified, receipt)
		except redis.RedisError as e:
			raise operation.cache_left(e, "erase_fan", subject) from e
		entry.set_receipt(receipt)
		runtime.db().commit()
		fields.update(rows=dict(receipt.rows), keys=dict(receipt.keys))
		return receipt.as_dict()


def _erase_rows(
	fan_id: str, subject: str, requested_by: str | None
) -> tuple[Receipt, list[str], datetime | None]:
	"""One transaction: the entry, then every row of the fan. Returns the receipt so far, the creators
	the fan had rows with, and the newest `modified` of their Fan Memory rows."""
	database = runtime.db()
	try:
		receipt = Receipt(entry.record(entry.FAN, subject, fan_id, requested_by, runtime.now()), subject)
		memories = database.sql(
			f"select creator_id, modified from {FAN_MEMORY} where fan_id = %s for update", (fan_id,)
		)
		talked_to = database.sql(
			f"select distinct creator_id from {INTERACTIONS} where fan_id = %s", (fan_id,)
		)
		creators = sorted({row[0].lower() for row in (*memories, *talked_to)})
		for creator_id in creators:
			database.sql(
				f"delete from {INTERACTIONS} where creator_id = %s and fan_id = %s", (creator_id, fan_id)
			)
			receipt.rows["Interaction"] += database.sql("select row_count()")[0][0]
		database.sql(f"delete from {FAN_MEMORY} where fan_id = %s", (fan_id,))
		receipt.rows["Fan Memory"] += database.sql("select row_count()")[0][0]
		audit.erase("fan_id", fan_id, receipt)
		entry.set_receipt(receipt)
		database.commit()
	except BaseException:
		runtime.reset_db_after_error()
		raise
	return receipt, creators, max((row[1] for row in memories), default=None)


def _erase_keys(fan_id: str, creators: list[str], modified: datetime | None, receipt: Receipt) -> None:
	"""Tombstones over every cache key of the fan (newer than any row erased, so a read in flight cannot
	put its copy back), then the rate-limit counters."""
	client = runtime.redis_client()
	found = cache.fan_keys(client, fan_id)
	known = {key for creator_id in creators for key in cache.pair_keys(fan_id, creator_id)}
	tombstone = cache.version(update.next_modified(modified, runtime.now()))
	cache.put_many(
		client,
		[(key, tombstone, "") for key in sorted(known.union(found))],
		cache.tombstone_ttl(runtime.settings()),
	)
	receipt.keys[cache.FAMILY] += len(found)
	recall_cache.forget(fan_id)
	receipt.keys[rate_limits.KEY_FAMILY] += rate_limits.forget(fan_id)
