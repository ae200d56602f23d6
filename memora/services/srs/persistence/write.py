"""Writing batches: one transaction per write with retries, the idempotency window, and the clean-up
of pending states after the commit.

Guarantees (docs/persistence.md has the reasoning):
- one upsert per batch: a multi-row `INSERT … ON DUPLICATE KEY UPDATE` on the unique
  (player, season, question_id) key, so racing writers never make two rows;
- every review gets one review log row, in the same transaction (one more statement per batch, keyed
  on the review id, so a batch written again adds none);
- a tracker never moves backwards: a review older than the stored one changes nothing;
- the same review applied again changes nothing, within the idempotency window and beyond it;
- transient database errors are retried with exponential backoff and jitter; retries, final
  failures and replays are written to SRS Audit Log with the correlation id;
- a pending state is cleared only after the commit, and only if it still holds the persisted review;
- a review of a player erased after it is never written: the write reads the players' erasures with a
  locking read in its own transaction (`erasure.entry`) and drops those reviews, with their audit rows
  and re-sync marks.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from tenacity import RetryCallState

from memora import runtime
from memora.exceptions import MemoraError
from memora.runtime import Settings
from memora.services import audit_log, metrics, retry, validation
from memora.services.erasure import entry
from memora.services.pseudonym import pseudonym
from memora.services.srs import in_flight, pending, queue_sync, resync_marks
from memora.services.srs.persistence.batch import Batch, batch_of
from memora.services.srs.persistence.statement import (
	STATEMENT_ROWS,
	Review,
	batch_document,
	log_document,
	log_insert_sql,
	newest_per_card,
	reviews_of,
	upsert_sql,
	upsert_values,
)

OPERATION = "persist_review_batch"
# Why a queue is marked for a re-sync.
SAFE_MODE = "safe_mode_review"
UNSETTLED = "persisted_while_redis_was_unreachable"
# Each retry's delay is the exponential one plus up to as much again at random.
RETRY_JITTER = 1.0


class PersistenceFailed(MemoraError):
	"""A batch could not be written after every retry; it is in SRS Audit Log for a replay."""


def write_cards(
	batches: list[Batch], audit_rows: list[dict], resync: tuple[tuple[str, str], ...] = ()
) -> set[str]:
	"""Log every review of the batches and upsert each card's newest state (one statement of each per
	STATEMENT_ROWS), with the audit rows and the marks of the (player, season) queues to re-sync, in one
	transaction. Returns the players whose reviews were dropped because they were erased after them
	(nothing of theirs is written)."""
	database = runtime.db()
	now = runtime.now()
	try:
		reviews, erased = without_erased(reviews_of(batches))
		if erased:
			audit_rows = [row for row in audit_rows if row["player"] not in erased]
			resync = tuple(queue for queue in resync if queue[0] not in erased)
		# The log first: a worker killed while the upsert waits for a row lock has logged nothing either.
		for start in range(0, len(reviews), STATEMENT_ROWS):
			document = log_document(reviews[start : start + STATEMENT_ROWS])
			database.sql(log_insert_sql(), upsert_values(document, now))
		cards = newest_per_card(reviews)
		for start in range(0, len(cards), STATEMENT_ROWS):
			document = batch_document(cards[start : start + STATEMENT_ROWS])
			database.sql(upsert_sql(), upsert_values(document, now))
		audit_log.add(audit_rows)
		resync_marks.add(resync, SAFE_MODE)
		database.commit()
	except Exception:
		runtime.reset_db_after_error()
		raise
	return erased


def without_erased(reviews: list[Review]) -> tuple[list[Review], set[str]]:
	"""The reviews less those made before their player's latest erasure, and the players whose reviews
	were dropped. Its read locks the players' erasure entries until the transaction ends, so an erasure
	cannot slip between this read and the writes."""
	subjects = {user: pseudonym(user) for user in {user for user, _, _ in reviews}}
	erased_at = entry.erased_at(entry.PLAYER, sorted(set(subjects.values())))
	if not erased_at:
		return reviews, set()
	kept, dropped = [], set()
	for user, season, state in reviews:
		when = erased_at.get(subjects[user])
		if when is not None and state["reviewed_at"] <= when:
			dropped.add(user)
		else:
			kept.append((user, season, state))
	if dropped:
		runtime.log("persist_erased_dropped", subjects=sorted(subjects[user] for user in dropped))
	return kept, dropped


class BatchWrite:
	"""One batch on its way to durability: the attempts, the retries between them, and their audit rows.

	Retry rows are kept until an attempt succeeds and are then committed with the batch (while the
	database is unreachable they could not be written anyway); after a final failure they are written,
	best effort, with a Failed row that holds the batch for `replay_failed`.
	"""

	def __init__(
		self,
		batch: Batch,
		job_id: str,
		retry_count: int,
		settings: Settings,
		resync: bool,
	) -> None:
		self.states, self.user, self.season, self.job_id = batch.states, batch.user, batch.season, job_id
		self.retry_count, self.settings = retry_count, settings
		self.resync = ((batch.user, batch.season),) if resync else ()
		self.retries: list[dict] = []

	@property
	def attempt_number(self) -> int:
		return self.retry_count + len(self.retries) + 1

	def audit(self, status: str, **fields: Any) -> dict:
		return audit_log.entry(
			OPERATION,
			status,
			job_id=self.job_id,
			attempt=self.attempt_number,
			player=self.user,
			season=self.season,
			row_count=len(self.states),
			**fields,
		)

	def run(self) -> set[str]:
		"""Write, retrying transient errors with exponential backoff and jitter up to MAX_RETRIES times.
		Returns the players whose reviews were dropped as erased (see `write_cards`)."""
		settings = self.settings
		return retry.policy(
			OPERATION,
			"persist_retry",
			settings.max_retries - self.retry_count + 1,
			settings.retry_delay_base,
			settings.retry_delay_max,
			RETRY_JITTER,
			runtime.is_transient_db_error,
			self.record_retry,
		)(self.attempt)

	def attempt(self) -> set[str]:
		closing = (
			[*self.retries, self.audit("Success", details={"attempts": len(self.retries) + 1})]
			if self.retries
			else []
		)
		return write_cards([Batch(self.user, self.season, self.states)], closing, self.resync)

	def record_retry(self, call: RetryCallState) -> None:
		error = call.outcome.exception()
		delay = round(call.next_action.sleep, 3)
		self.retries.append(self.audit("Retry", error=error, details={"delay_s": delay}))

	def record_failure(self, error: Exception) -> None:
		audit_log.write(
			[*self.retries, self.audit("Failed", error=error, details={"responses": self.states})]
		)
		runtime.log(
			"persist_failed",
			logging.ERROR,
			job_id=self.job_id,
			player=self.user,
			season=self.season,
			rows=len(self.states),
			error=str(error),
		)


# --- idempotency window and pending states --------------------------------------------------------


class IdempotencyWindow:
	"""A Redis key set for IDEMPOTENCY_WINDOW seconds after a batch commits, so a repeat of the batch
	within the window skips the database. Only a shortcut: outside it the row guard makes a repeat a
	no-op, so Redis failing here is logged and otherwise ignored."""

	def __init__(self, job_id: str, seconds: int) -> None:
		self.job_id, self.seconds = job_id, seconds
		self.key = runtime.key("srs-persisted", job_id)

	def open(self, pipe: Pipeline) -> None:
		"""Queue the key on `pipe` (see `settle`)."""
		if self.seconds > 0:
			pipe.set(self.key, 1, ex=self.seconds)


def already_written(windows: list[IdempotencyWindow], client: redis.Redis) -> list[bool]:
	"""Which of the batches committed within their window, asked in one round trip."""
	if not windows or windows[0].seconds <= 0:
		return [False] * len(windows)
	pipe = client.pipeline(transaction=False)
	for window in windows:
		pipe.exists(window.key)
	try:
		return [bool(found) for found in pipe.execute()]
	except RedisError as e:
		runtime.log("persist_window_unreadable", logging.WARNING, job_id=windows[0].job_id, error=str(e))
		return [False] * len(windows)


def settle(
	client: redis.Redis, outcomes: list[tuple[IdempotencyWindow, bool, Batch]], erased: Collection[str] = ()
) -> None:
	"""After the commit, in one round trip to Redis for all the batches: open the idempotency window of
	each batch this call wrote, and forget the pending states the batches made durable
	(compare-and-delete); then, in one round trip to the queue's Redis, their in-flight records. A Redis
	failure is logged, not raised (the window is a shortcut), and the players' queues are marked for a
	re-sync, which drops the states left behind. Cards a live queue holds without a pending state (it was
	lost, or the batch never went through the queue) are synced with their new rows. The keys of
	`erased` players are left alone: their erasure deleted them, and a clear would set their stamp."""
	pipe = client.pipeline(transaction=False)
	cleared_batches = []
	for window, wrote, batch in outcomes:
		if wrote:
			window.open(pipe)
		if batch.user not in erased:
			pairs = [(s["question_id"], s["review_id"]) for s in batch.states]
			pending.queue_clear(pipe, batch.user, batch.season, pairs)
			cleared_batches.append(batch)
	try:
		cleared = [reply for reply in pipe.execute() if isinstance(reply, list)]
		for batch, (_, unknown) in zip(cleared_batches, cleared, strict=True):
			if unknown and not queue_sync.sync_cards(client, batch.season, batch.user, unknown):
				mark_unsettled([batch])
	except RedisError as e:
		runtime.log("persist_not_settled", logging.WARNING, job_id=outcomes[0][0].job_id, error=str(e))
		mark_unsettled(cleared_batches)
	in_flight.remove((batch.user, batch.season, window.job_id) for window, _, batch in outcomes)


def mark_unsettled(batches: list[Batch]) -> None:
	"""Queues whose pending states outlive their rows: re-synced (which drops them) once Redis is back.
	Best effort: the states equal the rows and expire anyway."""
	try:
		resync_marks.add({(batch.user, batch.season) for batch in batches}, UNSETTLED)
		runtime.db().commit()
	except Exception as e:
		if not runtime.is_db_error(e):
			raise
		runtime.reset_db_after_error()
		runtime.log("persist_unsettled_not_marked", logging.WARNING, error=str(e))


# --- public functions ----------------------------------------------------------------------------


def result(success: bool, processed: int, failed: int, errors: list[str]) -> dict:
	return {"success": success, "processed_count": processed, "failed_count": failed, "errors": errors}


def persist_review_batch(responses: list[dict], user: str, season: str, retry_count: int = 0) -> dict:
	"""Write a batch of reviews now: validate it whole, upsert it in one transaction with retries, then
	clear the pending states it made durable. `retry_count` is the attempts already spent on the batch.

	Bad input raises ValidationError (nothing is written). A write that still fails after MAX_RETRIES
	retries is recorded in SRS Audit Log (status Failed, with the batch, for `replay_failed`) and
	reported as `success: False`.
	"""
	retry_count = validation.integer(retry_count, "retry_count", minimum=0)
	return persist_batch(batch_of(responses, user, season), retry_count)


def persist_batch(batch: Batch, retry_count: int = 0, resync: bool = False) -> dict:
	"""`persist_review_batch` of a validated batch. With `resync` (answers accepted in safe mode) the
	batch leaves a mark that re-syncs the player's queue from MariaDB once Redis is back, and Redis is
	not asked: the batch recorded no pending states, and the breaker says Redis is unreachable."""
	if not batch.states:
		return result(True, 0, 0, [])
	settings = runtime.settings()
	client = runtime.redis_client(settings)
	window = IdempotencyWindow(batch.job_id, settings.idempotency_window)
	wrote = resync or not already_written([window], client)[0]
	erased: set[str] = set()
	if wrote:
		write = BatchWrite(batch, window.job_id, retry_count, settings, resync)
		try:
			erased = write.run()
		except Exception as e:
			write.record_failure(e)
			return result(False, 0, len(batch.states), [f"{type(e).__name__}: {e}"])
		record_lag(batch.states)
	if not resync:
		settle(client, [(window, wrote, batch)], erased)
	return result(True, len(batch.states), 0, [])


def persist_together(batches: list[Batch]) -> None:
	"""Write several batches in one transaction, with one idempotency check and one settle for all of
	them, and no retries: a failure is raised for the caller to fall back on `persist_batch`."""
	settings = runtime.settings()
	client = runtime.redis_client(settings)
	windows = [IdempotencyWindow(b.job_id, settings.idempotency_window) for b in batches]
	fresh = [not seen for seen in already_written(windows, client)]
	written = [batch for batch, wrote in zip(batches, fresh, strict=True) if wrote]
	erased = write_cards(written, [])
	record_lag([state for batch in written for state in batch.states])
	settle(client, list(zip(windows, fresh, batches, strict=True)), erased)


def record_lag(states: list[dict]) -> None:
	"""Persistence lag of each review just made durable: from its acceptance to now, after the commit."""
	now = runtime.now_ts()
	# A review session stamps all its answers with one time, so a batch has few distinct lags.
	for reviewed_at, count in Counter(state["reviewed_at"] for state in states).items():
		metrics.observe(metrics.PERSISTENCE_LAG, max(0.0, now - reviewed_at) * 1000, count=count)


def persist_single_review(response: dict, user: str, season: str) -> bool:
	"""One review, written now; True once it is durable."""
	return persist_review_batch([response], user, season)["success"]
