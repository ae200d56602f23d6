"""Sentence vectors of the interactions that have text: the reads recall builds its index from, and
the background job that embeds new messages off the save's hot path.

A save stores its row with embedding_model NULL (waiting) and asks for the job (at most once per
EMBED_DEBOUNCE_MS). The job embeds the waiting rows in batches, writes each pair's vectors under the
pair's Fan Memory lock with a new pair version, and tombstones the pair's cache entries like a save:
a process's recall index then merges the vectors in at its next search. The scheduler runs the job
too, so rows whose request was lost (Redis down, a worker killed) are embedded within minutes;
`backfill` embeds what was stored before the model was installed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from itertools import groupby

import redis
from redis.exceptions import LockError
from redis.lock import Lock

from memora import runtime
from memora.exceptions import MemoraError
from memora.services.fan_memory import cache, embedding, update
from memora.services.fan_memory.events import pair_key
from memora.services.fan_memory.store import bounded
from memora.services.tables import FAN_MEMORY, INTERACTIONS

JOB = "memora.services.fan_memory.vectors.embed_pending"
EMBED_DEBOUNCE_MS = 2000
# A requested or scheduled run stops after this long, well inside the queue's job timeout (300 s);
# a backlog is the backfill's work.
JOB_SECONDS = 120.0
LEASE_SECONDS = 60
PAIR_COLUMNS = (
	"name",
	"content",
	"timestamp",
	"modified",
	"interaction_type",
	"embedding",
	"embedding_model",
)


def pair_rows(fan_id: str, creator_id: str, since: datetime | None, timeout: float) -> list[dict]:
	"""The pair's rows with text, oldest version first: all of them, or those written after `since`
	(a pair's rows commit in `modified` order, see `store.insert_interaction`)."""
	newer = " and modified > %s" if since is not None else ""
	return runtime.db().sql(
		bounded(
			f"select {', '.join(f'`{c}`' for c in PAIR_COLUMNS)} from {INTERACTIONS} "
			f"where creator_id = %s and fan_id = %s and content > ''{newer} order by modified, name",
			timeout,
		),
		(creator_id, fan_id, *([since] if since is not None else [])),
		as_dict=True,
	)


def pair_state(fan_id: str, creator_id: str, timeout: float) -> tuple[datetime, datetime] | None:
	"""(creation, modified) of the pair's Fan Memory row: which incarnation of the pair, at which version."""
	rows = runtime.db().sql(
		bounded(
			f"select creation, modified from {FAN_MEMORY} where fan_id = %s and creator_id = %s", timeout
		),
		(fan_id, creator_id),
	)
	return (rows[0][0], rows[0][1]) if rows else None


def waiting_count() -> int:
	return runtime.db().sql(f"select count(*) from {INTERACTIONS} where embedding_model is null")[0][0]


def request_embedding() -> None:
	"""Ask for the job after a save of text; one request per EMBED_DEBOUNCE_MS is enough, since the
	job takes every waiting row. A lost request only delays the vectors until the scheduled run."""
	if not embedding.available():
		return
	try:
		if runtime.redis_client().set(
			runtime.key("embedding", "requested"), 1, nx=True, px=EMBED_DEBOUNCE_MS
		):
			runtime.enqueue(JOB, queue="default")
	except (redis.RedisError, OSError) as e:
		runtime.log("memory.embedding_request_failed", logging.WARNING, error=type(e).__name__)


class EmbeddingBusy(MemoraError):
	"""Another run of the embedding job holds the lease: it takes every waiting row anyway."""


def embed_pending(
	limit: int | None = None,
	seconds: float | None = JOB_SECONDS,
	progress: Callable[[int], None] | None = None,
) -> int:
	"""Embed waiting rows, batch after batch, until none is left, `limit` rows are done or `seconds`
	have passed (each batch commits: the next run goes on from there); returns how many. One run at a
	time per site: a run that finds another one running returns 0 at once."""
	try:
		return embed_leased(limit, seconds, progress)
	except EmbeddingBusy:
		return 0


def embed_leased(limit: int | None, seconds: float | None, progress: Callable[[int], None] | None) -> int:
	"""`embed_pending` under the site's embedding lease (EmbeddingBusy when another run holds it). Two
	runs would embed the same rows and bump the same pairs' versions twice; a run that dies frees the
	lease within LEASE_SECONDS."""
	if not embedding.available():
		return 0
	lease = runtime.redis_client().lock(
		runtime.key("embedding", "running"), timeout=LEASE_SECONDS, blocking=False
	)
	if not lease.acquire():
		raise EmbeddingBusy("another run of the embedding job is embedding the waiting messages")
	try:
		done = _embed_batches(lease, limit, seconds, progress)
	finally:
		with suppress(LockError):
			lease.release()
		# A job's work horse ends with os._exit: the tombstones queued in the background go first.
		cache.drain()
	if done:
		runtime.log("memory.embedded", rows=done)
	return done


def _embed_batches(
	lease: Lock, limit: int | None, seconds: float | None, progress: Callable[[int], None] | None
) -> int:
	batch_size = runtime.settings().recall_embed_batch_size
	deadline = time.monotonic() + seconds if seconds is not None else None
	done = 0
	while (limit is None or done < limit) and (deadline is None or time.monotonic() < deadline):
		rows = _waiting(batch_size if limit is None else min(batch_size, limit - done))
		if not rows:
			break
		vectors = embedding.embed([row["content"] or "" for row in rows])
		for (fan_id, creator_id), pair in groupby(
			sorted(zip(rows, vectors, strict=True), key=_pair), key=_pair
		):
			_store(fan_id, creator_id, list(pair))
		done += len(rows)
		lease.reacquire()
		if progress:
			progress(done)
	return done


def backfill(progress: Callable[[int, int], None] | None = None) -> dict:
	"""Embed every row still waiting, e.g. those stored before the model was installed. Resumable:
	each batch commits, and a new run starts from the rows still waiting. EmbeddingBusy while a run
	of the job holds the lease (it ends within JOB_SECONDS)."""
	waiting = waiting_count()
	if not embedding.available():
		return {"model": None, "embedded": 0, "still_waiting": waiting}
	embedded = embed_leased(None, None, (lambda done: progress(done, waiting)) if progress else None)
	return {"model": embedding.MODEL_ID, "embedded": embedded, "still_waiting": waiting_count()}


def _pair(item: tuple[dict, object]) -> tuple[str, str]:
	return pair_key(item[0]["fan_id"], item[0]["creator_id"])


def _waiting(limit: int) -> list[dict]:
	"""Rows still waiting, by name (which starts with the pair's hash: a batch holds few pairs)."""
	return runtime.db().sql(
		f"select name, fan_id, creator_id, content from {INTERACTIONS} "
		"where embedding_model is null order by name limit %s",
		(limit,),
		as_dict=True,
	)


def _store(fan_id: str, creator_id: str, embedded: list[tuple[dict, object]]) -> None:
	"""One pair's vectors and its new version in one transaction, then its cache entries tombstoned.
	A pair erased meanwhile has no rows left to update, and gets no version."""
	database = runtime.db()
	try:
		locked = database.sql(
			f"select modified from {FAN_MEMORY} where fan_id = %s and creator_id = %s for update",
			(fan_id, creator_id),
		)
		version = update.next_modified(locked[0][0] if locked else None, runtime.now())
		updated = 0
		for row, vector in embedded:
			# The content too: a pair erased meanwhile and begun again may have a row of the same name.
			database.sql(
				f"update {INTERACTIONS} set embedding = %s, embedding_model = %s, modified = %s "
				"where name = %s and embedding_model is null and content = %s",
				(embedding.pack(vector), embedding.MODEL_ID, version, row["name"], row["content"]),
			)
			updated += database.sql("select row_count()")[0][0]
		if locked and updated:
			database.sql(
				f"update {FAN_MEMORY} set modified = %s where fan_id = %s and creator_id = %s",
				(version, fan_id, creator_id),
			)
		database.commit()
	except BaseException:
		runtime.reset_db_after_error()
		raise
	if locked and updated:
		cache.invalidate_later(
			cache.pair_keys(fan_id, creator_id),
			cache.version(version),
			cache.tombstone_ttl(runtime.settings()),
		)
