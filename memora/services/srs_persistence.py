"""Durable writes of accepted reviews: background jobs upsert batches of card states into MariaDB.

Contract used by the SRS engine: `queue_review_batch(states, user, season) -> job_id` hands over a
batch of card states (see `pending_reviews` for their shape) that are already live in Redis. The
batch is written by a job on the persistence queue, or at once if the queue cannot take it.

Guarantees (docs/persistence.md has the reasoning):
- one statement per batch: a multi-row `INSERT … ON DUPLICATE KEY UPDATE` on the unique
  (player, season, question_id) key, so racing writers never make two rows;
- a tracker never moves backwards: a review older than the stored one changes nothing;
- the same review applied again changes nothing, within the idempotency window and beyond it;
- transient database errors are retried with exponential backoff and jitter; retries, final
  failures and replays are written to SRS Audit Log with the correlation id;
- a pending state is cleared only after the commit, and only if it still holds the persisted review.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections import Counter
from datetime import datetime, timezone
from functools import cache
from typing import Any, NamedTuple

import redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from memora import runtime
from memora.exceptions import MemoraError, ValidationError
from memora.runtime import Settings
from memora.schema import load_doctype, table_name
from memora.services import (
	audit_log,
	in_flight,
	metrics,
	pending_reviews,
	queue_sync,
	resync_marks,
	validation,
)

OPERATION = "persist_review_batch"
BATCH_OPERATION = "persistence.batch"  # a persistence job's run, in the metrics
JOB_TARGET = "memora.services.srs_persistence.run_batch_job"
JOB_ID_START = "memora-persist-"
# Why a queue is marked for a re-sync.
SAFE_MODE = "safe_mode_review"
UNSETTLED = "persisted_while_redis_was_unreachable"
TRACKER_TABLE = table_name("Player Memory Tracker")
# Bounds the size of one statement: about 160 kB for 500 typical rows, and 7 MB if every text field
# held 140 characters outside the BMP, under MariaDB's default max_allowed_packet of 16 MB.
STATEMENT_ROWS = 500
MAX_BATCH = 10_000
RATING_MAX = 5
# The largest values the tracker's columns hold: decimal(21,9) and int(11).
DECIMAL_MAX = 999_999_999_999.0
INT_MAX = 2**31 - 1
# Unix times outside these bounds are mistakes (milliseconds sent as seconds, and the like).
TS_MIN, TS_MAX = 0.0, 32503680000.0  # 1970-01-01 .. 3000-01-01 UTC
# Columns a newer review overwrites; `values(...)` of each comes from the batch document.
CARD_COLUMNS = (
	"stability",
	"difficulty",
	"state",
	"step",
	"reps",
	"lapses",
	"last_rating",
	"next_review_date",
	"modified",
	"modified_by",
)
# The batch travels as one JSON document (one escaped parameter instead of twenty per row) that
# JSON_TABLE turns into rows: each row is [column, ...] in this order, with these SQL types. JSON_TABLE
# finds a column's value by scanning its row from the start, so every value is read past once per
# column after it: short values come first, the long ids and times last. The row's name is not sent:
# `upsert_sql` derives it from the player, season and question (docs/persistence.md has the figures).
BATCH_COLUMNS = (
	("step", "int"),
	("reps", "int"),
	("lapses", "int"),
	("last_rating", "int"),
	("stability", "decimal(21,9)"),
	("difficulty", "decimal(21,9)"),
	("state", "varchar(140)"),
	("subject", "varchar(140)"),
	("topic", "varchar(140)"),
	("season", "varchar(140)"),
	("next_review_date", "datetime(6)"),
	("last_review_date", "datetime(6)"),
	("player", "varchar(140)"),
	("question_id", "varchar(140)"),
	("last_review_id", "varchar(140)"),
)


class PersistenceFailed(MemoraError):
	"""A batch could not be written after every retry; it is in SRS Audit Log for a replay."""


class Batch(NamedTuple):
	"""One player's validated reviews in one season: what a persistence job writes."""

	user: str
	season: str
	states: list[dict]

	@property
	def job_id(self) -> str:
		return batch_job_id(self.user, self.season, self.states)


class SRSPersistenceService:
	"""The service object of the Memora service docs. The module functions do the work; they are also
	what background jobs and the scheduler call."""

	@property
	def MAX_RETRIES(self) -> int:
		return runtime.settings().max_retries

	@property
	def RETRY_DELAY_BASE(self) -> float:
		return runtime.settings().retry_delay_base

	@property
	def RETRY_DELAY_MAX(self) -> float:
		return runtime.settings().retry_delay_max

	@property
	def IDEMPOTENCY_WINDOW(self) -> int:
		return runtime.settings().idempotency_window

	def persist_review_batch(
		self, responses: list[dict], user: str, season: str, retry_count: int = 0
	) -> dict:
		return persist_review_batch(responses, user, season, retry_count)

	def persist_single_review(self, response: dict, user: str, season: str) -> bool:
		return persist_single_review(response, user, season)

	def get_persistence_status(self, job_id: str) -> dict | None:
		return get_persistence_status(job_id)


# --- input ---------------------------------------------------------------------------------------


def _select_options(doctype: str, fieldname: str) -> tuple[str, ...]:
	field = next(f for f in load_doctype(doctype)["fields"] if f["fieldname"] == fieldname)
	return tuple(field["options"].split("\n"))


CARD_STATES = _select_options("Player Memory Tracker", "state")


def _given(response: dict, name: str, alias: str) -> tuple[str, Any]:
	"""The value under `name`, else under the spec's `alias`; with the key it came from."""
	if response.get(name) is None and response.get(alias) is not None:
		return alias, response[alias]
	return name, response.get(name)


def _timestamp(value: Any, field: str) -> float:
	"""Unix time from a number, a datetime (naive = system time zone) or an ISO 8601 string."""
	ts = value if type(value) is float else _as_unix_time(value, field)
	if not TS_MIN <= ts <= TS_MAX:  # false for NaN too
		raise ValidationError(field, "must be a Unix time in seconds between 1970 and 3000")
	return ts


def _as_unix_time(value: Any, field: str) -> float:
	"""The slow part of `_timestamp`, for anything but a float: parse, convert, check it is a number."""
	if isinstance(value, str):
		try:
			value = datetime.fromisoformat(value)
		except ValueError:
			raise ValidationError(field, "must be a Unix time or an ISO 8601 date-time") from None
	if isinstance(value, datetime):
		value = runtime.to_ts(value)
	return validation.number(value, field)


def _optional_text(value: Any, field: str) -> str | None:
	return None if value in (None, "") else validation.identifier(value, field)


def _review_id(response: dict, user: str, season: str) -> str:
	"""The client's review id, else one derived from the player, the season and the whole response, so
	the same response sent twice is recognised as one review."""
	if response.get("review_id") not in (None, ""):
		return validation.identifier(response["review_id"], "review_id")
	content = json.dumps(response, sort_keys=True, default=str)
	return "d-" + hashlib.sha1(f"{user}\0{season}\0{content}".encode()).hexdigest()


def normalise_state(response: Any, where: str, user: str, season: str, now_ts: float) -> dict:
	"""One response as a canonical card state (see `pending_reviews`); ValidationError names the field."""
	if not isinstance(response, dict):
		raise ValidationError(where, "must be an object")
	try:
		return _card_state(response, user, season, now_ts)
	except ValidationError as e:
		# Named here, not per field up front: formatting a dozen names per row cost more than checking it.
		raise ValidationError(f"{where}.{e.field}", e.message) from None


def _card_state(response: dict, user: str, season: str, now_ts: float) -> dict:
	"""Every value bounded to fit its tracker column, which `upsert_sql` relies on."""
	question_id = validation.identifier(response.get("question_id"), "question_id")
	review_id = _review_id(response, user, season)
	reviewed_at = response.get("reviewed_at")
	stability_key, stability = _given(response, "stability", "new_stability")
	next_key, next_review = _given(response, "next_review_ts", "new_next_review_date")
	state = response.get("state") or "Review"
	if state not in CARD_STATES:
		raise ValidationError("state", f"must be one of {', '.join(CARD_STATES)}")
	return {
		"question_id": question_id,
		"review_id": review_id,
		"reviewed_at": now_ts if reviewed_at is None else _timestamp(reviewed_at, "reviewed_at"),
		"next_review_ts": _timestamp(next_review, next_key),
		"stability": validation.number(stability, stability_key, minimum=0, maximum=DECIMAL_MAX),
		"difficulty": validation.number(
			response.get("difficulty") or 0, "difficulty", minimum=0, maximum=DECIMAL_MAX
		),
		"state": state,
		"step": validation.integer(response.get("step") or 0, "step", minimum=0, maximum=INT_MAX),
		"reps": validation.integer(response.get("reps") or 0, "reps", minimum=0, maximum=INT_MAX),
		"lapses": validation.integer(response.get("lapses") or 0, "lapses", minimum=0, maximum=INT_MAX),
		"last_rating": validation.integer(
			response.get("last_rating") or 0, "last_rating", minimum=0, maximum=RATING_MAX
		),
		"subject": _optional_text(response.get("subject"), "subject"),
		"topic": _optional_text(response.get("topic"), "topic"),
	}


def normalise_batch(responses: Any, user: str, season: str) -> list[dict]:
	"""Every response validated and in canonical shape, or ValidationError for the first bad one: a batch
	is written whole or not at all."""
	if not isinstance(responses, list | tuple):
		raise ValidationError("responses", "must be a list")
	if len(responses) > MAX_BATCH:
		raise ValidationError("responses", f"must hold at most {MAX_BATCH} reviews")
	now_ts = runtime.now_ts()
	return [normalise_state(r, f"responses[{i}]", user, season, now_ts) for i, r in enumerate(responses)]


def batch_of(responses: Any, user: Any, season: Any) -> Batch:
	"""The batch a caller hands over, validated whole (ValidationError names the first bad field)."""
	user = validation.identifier(user, "user")
	season = validation.season_name(season)
	return Batch(user, season, normalise_batch(responses, user, season))


def batch_job_id(user: str, season: str, states: list[dict]) -> str:
	"""Same player, season and reviews, same id: a resubmitted batch is recognised by RQ, by the
	idempotency window and by `get_persistence_status`. The key namespace (site or database) is part
	of it because RQ job ids are global to the queue's Redis."""
	identity = "\0".join([runtime.key_prefix(), user, season, *sorted(s["review_id"] for s in states)])
	return JOB_ID_START + hashlib.sha1(identity.encode()).hexdigest()[:20]


def tracker_name(user: str, season: str, question_id: str) -> str:
	"""Deterministic row name, so the same card always maps to the same primary key."""
	return hashlib.sha1(f"{user}\0{season}\0{question_id}".encode()).hexdigest()[:20]


def tracker_name_sql(player: str, season: str, question_id: str) -> str:
	"""`tracker_name` as an SQL expression over three columns (the SHA-1 of the same UTF-8 bytes)."""
	separator = "char(0 using utf8mb4)"
	return f"left(sha1(concat({player}, {separator}, {season}, {separator}, {question_id})), 20)"


# --- the write -----------------------------------------------------------------------------------


def newest_per_card(batches: list[Batch]) -> list[tuple[str, str, dict]]:
	"""One (player, season, state) per card, the newest state (equal times are ordered by review id),
	sorted by card so that concurrent writers lock their rows in the same order."""
	newest: dict[tuple[str, str, str], dict] = {}
	for batch in batches:
		for state in batch.states:
			card = (batch.user, batch.season, state["question_id"])
			current = newest.get(card)
			if current is None or (state["reviewed_at"], state["review_id"]) > (
				current["reviewed_at"],
				current["review_id"],
			):
				newest[card] = state
	return [(user, season, newest[user, season, qid]) for user, season, qid in sorted(newest)]


def batch_document(cards: list[tuple[str, str, dict]]) -> str:
	"""The cards as the JSON document `upsert_sql` reads: one array per row, BATCH_COLUMNS order, times
	as datetimes of the system time zone (converted once per distinct time: a session shares one)."""
	stored: dict[float, str] = {}

	def when(ts: float) -> str:
		if ts not in stored:
			stored[ts] = runtime.from_ts(ts).isoformat(sep=" ", timespec="microseconds")
		return stored[ts]

	return json.dumps(
		[
			[
				state["step"],
				state["reps"],
				state["lapses"],
				state["last_rating"],
				state["stability"],
				state["difficulty"],
				state["state"],
				state["subject"],
				state["topic"],
				season,
				when(state["next_review_ts"]),
				when(state["reviewed_at"]),
				user,
				state["question_id"],
				state["review_id"],
			]
			for user, season, state in cards
		],
		separators=(",", ":"),  # compact: every byte goes to MariaDB, and a third more as base64
	)


@cache
def upsert_sql() -> str:
	"""One multi-row upsert of a whole batch that only moves a tracker forward; its parameters are
	`upsert_values`.

	A row changes only when the incoming review is newer than the stored one: a later review time, or
	the same time and a greater review id, compared by code point as `newest_per_card` does (so any
	arrival order ends in the same state). MariaDB applies
	the assignments left to right and later ones see earlier results, so the two columns the guard reads
	are assigned last: last_review_id, then last_review_date.
	"""
	newer = (
		"(`last_review_date` is null or values(`last_review_date`) > `last_review_date`"
		" or (values(`last_review_date`) = `last_review_date`"
		" and values(`last_review_id`) > coalesce(`last_review_id`, '') collate utf8mb4_bin))"
	)
	updates = [f"`{c}` = if({newer}, coalesce(values(`{c}`), `{c}`), `{c}`)" for c in ("subject", "topic")]
	updates += [f"`{c}` = if({newer}, values(`{c}`), `{c}`)" for c in (*CARD_COLUMNS, "last_review_id")]
	updates.append(f"`last_review_date` = if({newer}, values(`last_review_date`), `last_review_date`)")
	# No ON ERROR clauses: they doubled the cost of reading the document, and no value can fail to
	# convert, since validation bounds every value to its column (see `_card_state`).
	columns = ", ".join(
		f"`in_{name}` {sql_type} path '$[{i}]'" for i, (name, sql_type) in enumerate(BATCH_COLUMNS)
	)
	batch = {name for name, _ in BATCH_COLUMNS}
	given = {"creation": "%(now)s", "modified": "%(now)s", "owner": "b.`in_player`"}
	given["modified_by"] = "b.`in_player`"
	given["name"] = tracker_name_sql("b.`in_player`", "b.`in_season`", "b.`in_question_id`")
	targets = ("name", "creation", "owner", "player", "season", "question_id", "subject", "topic")
	targets += (*CARD_COLUMNS, "last_review_id", "last_review_date")
	selected = ", ".join(f"b.`in_{c}`" if c in batch else given[c] for c in targets)
	return (
		f"insert into `{TRACKER_TABLE}` ({', '.join(f'`{c}`' for c in targets)}) "
		f"select {selected} from json_table(convert(from_base64(%(document)s) using utf8mb4), "
		f"'$[*]' columns ({columns})) as b on duplicate key update {', '.join(updates)}"
	)


def upsert_values(document: str, now: datetime) -> dict:
	"""The parameters of `upsert_sql` for one `batch_document`.

	The document travels as base64 text: the driver escapes a string parameter character by character
	(1.5 ms for the JSON of a 500-row batch, against 0.08 ms for its base64, which has nothing to
	escape), and no sql_mode can change how it reads. Base64 rather than hex: MariaDB's parser reads
	every byte of the literal, and base64 has a third fewer than hex. It is a parameter, not part of the
	statement, so the site's `frappe.db.sql`, which scans every statement with a regular expression,
	scans only the short statement (inlined, the scan cost 1.3 ms per 500 rows).
	"""
	return {"document": base64.b64encode(document.encode()).decode(), "now": now}


def write_cards(
	cards: list[tuple[str, str, dict]], audit_rows: list[dict], resync: tuple[tuple[str, str], ...] = ()
) -> None:
	"""Upsert the cards (one statement per STATEMENT_ROWS), the audit rows and the marks of the
	(player, season) queues to re-sync in one transaction."""
	database = runtime.db()
	now = runtime.now()
	try:
		for start in range(0, len(cards), STATEMENT_ROWS):
			document = batch_document(cards[start : start + STATEMENT_ROWS])
			database.sql(upsert_sql(), upsert_values(document, now))
		audit_log.add(audit_rows)
		resync_marks.add(resync, SAFE_MODE)
		database.commit()
	except Exception:
		runtime.reset_db_after_error()
		raise


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
		resync: bool = False,
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

	def run(self) -> None:
		"""Write, retrying transient errors with exponential backoff and jitter up to MAX_RETRIES times."""
		settings = self.settings
		Retrying(
			retry=retry_if_exception(runtime.is_transient_db_error),
			stop=stop_after_attempt(max(1, settings.max_retries - self.retry_count + 1)),
			wait=wait_exponential_jitter(
				initial=settings.retry_delay_base,
				max=settings.retry_delay_max,
				jitter=settings.retry_delay_base,
			),
			before_sleep=self.record_retry,
			reraise=True,
		)(self.attempt)

	def attempt(self) -> None:
		closing = (
			[*self.retries, self.audit("Success", details={"attempts": len(self.retries) + 1})]
			if self.retries
			else []
		)
		write_cards(newest_per_card([Batch(self.user, self.season, self.states)]), closing, self.resync)

	def record_retry(self, call: RetryCallState) -> None:
		error = call.outcome.exception()
		delay = round(call.next_action.sleep, 3)
		self.retries.append(self.audit("Retry", error=error, details={"delay_s": delay}))
		metrics.incr("retries", operation=OPERATION)
		runtime.log("persist_retry", logging.WARNING, job_id=self.job_id, delay_s=delay, error=str(error))

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

	def __init__(self, job_id: str, seconds: int, client: redis.Redis) -> None:
		self.job_id, self.seconds, self.client = job_id, seconds, client
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


def settle(client: redis.Redis, outcomes: list[tuple[IdempotencyWindow, bool, Batch]]) -> None:
	"""After the commit, in one round trip to Redis for all the batches: open the idempotency window of
	each batch this call wrote, and forget the pending states the batches made durable
	(compare-and-delete); then, in one round trip to the queue's Redis, their in-flight records. A Redis
	failure is logged, not raised (the window is a shortcut), and the players' queues are marked for a
	re-sync, which drops the states left behind. Cards a live queue holds without a pending state (it was
	lost, or the batch never went through the queue) are synced with their new rows."""
	pipe = client.pipeline(transaction=False)
	for window, wrote, batch in outcomes:
		if wrote:
			window.open(pipe)
		pairs = [(s["question_id"], s["review_id"]) for s in batch.states]
		pending_reviews.queue_clear(pipe, batch.user, batch.season, pairs)
	try:
		cleared = [reply for reply in pipe.execute() if isinstance(reply, list)]
		for (_, _, batch), (_, unknown) in zip(outcomes, cleared, strict=True):
			if unknown and not queue_sync.sync_cards(client, batch.season, batch.user, unknown):
				mark_unsettled([batch])
	except RedisError as e:
		runtime.log("persist_not_settled", logging.WARNING, job_id=outcomes[0][0].job_id, error=str(e))
		mark_unsettled([batch for _, _, batch in outcomes])
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
	window = IdempotencyWindow(batch.job_id, settings.idempotency_window, client)
	wrote = resync or not already_written([window], client)[0]
	if wrote:
		write = BatchWrite(batch, window.job_id, retry_count, settings, resync)
		try:
			write.run()
		except Exception as e:
			write.record_failure(e)
			return result(False, 0, len(batch.states), [f"{type(e).__name__}: {e}"])
		record_lag(batch.states)
	if not resync:
		settle(client, [(window, wrote, batch)])
	return result(True, len(batch.states), 0, [])


def persist_together(batches: list[Batch]) -> None:
	"""Write several batches in one transaction, with one idempotency check and one settle for all of
	them, and no retries: a failure is raised for the caller to fall back on `persist_batch`."""
	settings = runtime.settings()
	client = runtime.redis_client(settings)
	windows = [IdempotencyWindow(b.job_id, settings.idempotency_window, client) for b in batches]
	fresh = [not seen for seen in already_written(windows, client)]
	written = [batch for batch, wrote in zip(batches, fresh, strict=True) if wrote]
	write_cards(newest_per_card(written), [])
	record_lag([state for batch in written for state in batch.states])
	settle(client, list(zip(windows, fresh, batches, strict=True)))


def record_lag(states: list[dict]) -> None:
	"""Persistence lag of each review just made durable: from its acceptance to now, after the commit."""
	now = runtime.now_ts()
	# A review session stamps all its answers with one time, so a batch has few distinct lags.
	for reviewed_at, count in Counter(state["reviewed_at"] for state in states).items():
		metrics.observe(metrics.PERSISTENCE_LAG, max(0.0, now - reviewed_at) * 1000, count=count)


def persist_single_review(response: dict, user: str, season: str) -> bool:
	"""One review, written now; True once it is durable."""
	return persist_review_batch([response], user, season)["success"]


# --- the job ---------------------------------------------------------------------------------------

# A job takes over at most this many batches queued behind it, and only while the whole stays within
# one statement's rows (assuming batches of its own size): a queue of review sessions is then written
# a statement at a time instead of a session at a time.
TAKE_JOBS = 49
TAKE_SCAN = 200  # queued jobs looked at, from the front


def run_batch_job(responses: list[dict], user: str, season: str) -> dict:
	"""Job target of `queue_review_batch`. The batches waiting behind this one on the queue are taken
	over and written in the same transaction (`write_with_queued`). A final failure fails the job as
	well, so it also stays in RQ's failed registry."""
	with metrics.timed(BATCH_OPERATION):
		batch = batch_of(responses, user, season)
		queued = take_queued_batches(batch)
		outcome = write_with_queued(batch, queued) if queued else persist_batch(batch)
		if not outcome["success"]:
			raise PersistenceFailed("; ".join(outcome["errors"]))
	return outcome


def take_queued_batches(batch: Batch) -> list[tuple[Any, Batch]]:
	"""Persistence jobs waiting behind this one, taken over from the queue, with their batches. A job
	whose batch does not validate goes back to the queue, to fail there on its own."""
	if not batch.states:
		return []
	room = min(TAKE_JOBS, STATEMENT_ROWS // len(batch.states) - 1)
	jobs = runtime.take_queued_jobs(runtime.settings().persistence_queue, JOB_ID_START, room, TAKE_SCAN)
	taken, unfit = [], []
	for job in jobs:
		call = runtime.job_call(job)
		try:
			if call.get("target") != JOB_TARGET:
				raise ValidationError("target", "is not a persistence job")
			kwargs = call["target_kwargs"]
			taken.append((job, batch_of(kwargs["responses"], kwargs["user"], kwargs["season"])))
		except (ValidationError, KeyError):
			unfit.append(job)
	give_back(unfit)
	return taken


def write_with_queued(batch: Batch, queued: list[tuple[Any, Batch]]) -> dict:
	"""Write `batch` and the queued batches in one transaction and finish their jobs. If that write
	fails, the jobs go back to the queue (each to be written by its own job, with its own retries)
	and `batch` is written alone."""
	try:
		persist_together([batch, *(queued_batch for _, queued_batch in queued)])
	except Exception as e:
		runtime.log("persist_together_failed", logging.WARNING, jobs=len(queued) + 1, error=str(e))
		give_back([job for job, _ in queued])
		return persist_batch(batch)
	metrics.incr("batches_taken_over", len(queued), operation=OPERATION)
	try:
		runtime.finish_jobs([(job, result(True, len(b.states), 0, [])) for job, b in queued])
	except RedisError as e:
		# Left "started": recovery redelivers them, and writing a batch again changes nothing.
		runtime.log("persist_jobs_not_finished", logging.WARNING, jobs=len(queued), error=str(e))
	return result(True, len(batch.states), 0, [])


def give_back(jobs: list) -> None:
	"""Return taken jobs to their queue; if Redis refuses, recovery redelivers them later."""
	try:
		runtime.return_jobs(jobs)
	except RedisError as e:
		runtime.log("persist_jobs_not_returned", logging.WARNING, jobs=len(jobs), error=str(e))


def queue_review_batch(states: list[dict], user: str, season: str) -> str:
	"""Queue the durable write of `states`; returns the job id. If the queue cannot take the job, the
	batch is written synchronously instead (committing the caller's transaction) and the same id is
	returned; PersistenceFailed only if that write fails too."""
	batch = batch_of(states, user, season)
	job_id = batch.job_id
	if not batch.states:
		return job_id
	in_flight.add(batch.user, batch.season, job_id)
	try:
		runtime.enqueue(
			JOB_TARGET,
			queue=runtime.settings().persistence_queue,
			job_id=job_id,
			responses=batch.states,
			user=batch.user,
			season=batch.season,
		)
	except Exception as e:
		if not runtime.is_queue_unavailable(e):
			raise
		runtime.log("persist_queue_unavailable", logging.WARNING, job_id=job_id, error=str(e))
		write_synchronously(batch, {"queue_error": str(e)})
	return job_id


def persist_safe_mode_batch(states: list[dict], user: str, season: str) -> str:
	"""Answers accepted while Redis was unreachable, written now (the call returns once they are
	durable), with the mark that re-syncs the player's queue when Redis is back. Returns the job id the
	batch would have had, for `get_persistence_status`."""
	batch = batch_of(states, user, season)
	if batch.states:
		write_synchronously(batch, {"safe_mode": True}, resync=True)
	return batch.job_id


def write_synchronously(batch: Batch, details: dict, resync: bool = False) -> None:
	"""A batch written now rather than by a job; an audit row records that it happened."""
	outcome = persist_batch(batch, resync=resync)
	if not outcome["success"]:
		raise PersistenceFailed("; ".join(outcome["errors"]))
	audit_log.write(
		[
			audit_log.entry(
				OPERATION,
				"Success",
				job_id=batch.job_id,
				attempt=1,
				player=batch.user,
				season=batch.season,
				row_count=len(batch.states),
				details={"mode": "synchronous", **details},
			)
		]
	)


# --- status ----------------------------------------------------------------------------------------

# How an audit row reads as a job status, when the queue no longer has the job.
AUDIT_STATUS = {"Success": "finished", "Failed": "failed", "Retry": "started", "Replayed": "queued"}


def _utc(value: datetime | None) -> str | None:
	"""RQ's naive UTC datetimes as ISO 8601 with the zone."""
	return None if value is None else value.replace(tzinfo=timezone.utc).isoformat()


def _stored_utc(value: datetime | None) -> str | None:
	"""A naive datetime from MariaDB (system time zone) as ISO 8601 UTC."""
	return None if value is None else datetime.fromtimestamp(runtime.to_ts(value), timezone.utc).isoformat()


def get_persistence_status(job_id: str) -> dict | None:
	"""Where a batch is: its RQ job while the queue keeps it (10 minutes after success, 7 days after a
	failure), else the last SRS Audit Log row for it (synchronous writes, retried or failed batches);
	None if neither knows the id."""
	job_id = validation.identifier(job_id, "job_id")
	try:
		job = runtime.fetch_job(job_id)
	except Exception as e:
		if not runtime.is_queue_unavailable(e):
			raise
		job = None
	call = runtime.job_call(job) if job is not None else {}
	if call.get("target") == JOB_TARGET:
		return job_status(job_id, job, call)
	rows = audit_log.rows_for_job(job_id, OPERATION)
	return audit_status(job_id, rows[-1]) if rows else None


def job_status(job_id: str, job, call: dict) -> dict:
	kwargs = call["target_kwargs"]
	value, error = runtime.job_outcome(job)
	status = job.get_status()  # a JobStatus or, fresh from Redis, its plain string value
	return {
		"job_id": job_id,
		"status": getattr(status, "value", status),
		"source": "queue",
		"player": kwargs["user"],
		"season": kwargs["season"],
		"row_count": len(kwargs["responses"]),
		"correlation_id": call.get("correlation_id"),
		"enqueued_at": _utc(job.enqueued_at),
		"started_at": _utc(job.started_at),
		"ended_at": _utc(job.ended_at),
		"redeliveries": runtime.redeliveries(job),
		"result": value,
		"error": error,
	}


def audit_status(job_id: str, row: dict) -> dict:
	return {
		"job_id": job_id,
		"status": AUDIT_STATUS.get(row["status"], row["status"].lower()),
		"source": "audit_log",
		"player": row["player"],
		"season": row["season"],
		"row_count": row["row_count"],
		"correlation_id": row["correlation_id"],
		"ended_at": _stored_utc(row["creation"]),
		"attempt": row["attempt"],
		"error": row["error"],
	}


# --- jobs whose worker died --------------------------------------------------------------------------

GAVE_UP = "memora_gave_up"
# A job handed over this long ago that is on no queue and in no registry was lost by a dying worker: a
# live worker records a job started within milliseconds of taking it (and running a batch twice is safe).
STRANDED_AFTER = 10


def recover_abandoned_jobs() -> list[str]:
	"""Put persistence jobs whose worker died mid-run back on the queue, and those a dying worker took
	off the queue before RQ recorded them started (found through `in_flight`); returns their ids.

	Safe because applying a batch twice changes nothing. Bounded: a job whose worker died under it
	MAX_RETRIES times is left failed, with a Failed audit row, for an admin's replay. Standalone workers
	run this when they start and every minute after; in a site the scheduler runs it.
	"""
	settings = runtime.settings()
	requeued = []
	for job in runtime.abandoned_jobs(settings.persistence_queue):
		call = runtime.job_call(job)
		if call.get("target") != JOB_TARGET or job.meta.get(GAVE_UP):
			continue
		job_id = runtime.public_job_id(job)
		if runtime.redeliveries(job) >= settings.max_retries:
			give_up(job, job_id, call)
		elif runtime.requeue_job(job):
			requeued.append(job_id)
			runtime.log("persist_job_redelivered", job_id=job_id, redeliveries=runtime.redeliveries(job))
	stranded, gone = runtime.stranded_jobs(in_flight.handed_over_before(STRANDED_AFTER))
	in_flight.forget(gone)
	for job in stranded:
		runtime.push_back(job)
		requeued.append(runtime.public_job_id(job))
		runtime.log("persist_job_redelivered", job_id=runtime.public_job_id(job), stranded=True)
	return requeued


def give_up(job, job_id: str, call: dict) -> None:
	"""Record once that a batch keeps killing its workers, with the batch, so an admin can replay it."""
	kwargs = call["target_kwargs"]
	with runtime.correlation(call.get("correlation_id")):
		failed = audit_log.entry(
			OPERATION,
			"Failed",
			job_id=job_id,
			attempt=runtime.redeliveries(job) + 1,
			player=kwargs["user"],
			season=kwargs["season"],
			row_count=len(kwargs["responses"]),
			error=f"the worker died under this batch {runtime.redeliveries(job) + 1} times",
			details={"responses": kwargs["responses"]},
		)
		if audit_log.write([failed]):
			job.meta[GAVE_UP] = True
			job.save_meta()


# --- final failures and their replay ------------------------------------------------------------------

LIST_MAX = 1000


def _unreplayed_failures(limit: int) -> list[dict]:
	"""Failed audit rows with no later Replayed or Success row for the same job, with their batch."""
	rows = runtime.db().sql(
		f"""select name, job_id, player, season, row_count, error, correlation_id, creation, details
		from `{audit_log.TABLE}` f
		where f.operation = %(operation)s and f.status = 'Failed' and not exists (
			select 1 from `{audit_log.TABLE}` r
			where r.job_id = f.job_id and r.operation = f.operation
				and r.status in ('Replayed', 'Success') and r.creation > f.creation)
		order by f.creation
		limit %(limit)s""",
		{"operation": OPERATION, "limit": limit},
		as_dict=True,
	)
	return [
		{
			"job_id": row["job_id"],
			"player": row["player"],
			"season": row["season"],
			"row_count": row["row_count"],
			"error": row["error"],
			"correlation_id": row["correlation_id"],
			"failed_at": _stored_utc(row["creation"]),
			"source": "audit_log",
			"responses": json.loads(row["details"] or "{}").get("responses"),
		}
		for row in rows
	]


def _failed_jobs() -> list[dict]:
	"""Persistence jobs in RQ's failed registry (their Failed row may be missing if the database was
	down when they gave up). Empty when the queue's Redis is unavailable."""
	try:
		jobs = runtime.failed_jobs(runtime.settings().persistence_queue)
	except Exception as e:
		if not runtime.is_queue_unavailable(e):
			raise
		runtime.log("persist_failed_jobs_unreadable", logging.WARNING, error=str(e))
		return []
	failures = []
	for job in jobs:
		call = runtime.job_call(job)
		if call.get("target") != JOB_TARGET:
			continue
		kwargs = call["target_kwargs"]
		failures.append(
			{
				"job_id": runtime.public_job_id(job),
				"player": kwargs["user"],
				"season": kwargs["season"],
				"row_count": len(kwargs["responses"]),
				"error": runtime.job_outcome(job)[1] or "died with its worker",
				"correlation_id": call.get("correlation_id"),
				"failed_at": _utc(job.ended_at or job.enqueued_at),
				"source": "queue",
				"responses": kwargs["responses"],
			}
		)
	return failures


def _outstanding(limit: int) -> list[dict]:
	failures = {f["job_id"]: f for f in _unreplayed_failures(limit)}
	for failure in _failed_jobs():
		failures.setdefault(failure["job_id"], failure)
	return sorted(failures.values(), key=lambda f: f["failed_at"] or "")[:limit]


def failed_batches(limit: int = 100) -> list[dict]:
	"""Batches whose write finally failed and that nobody replayed yet, oldest first (without the
	reviews themselves): from SRS Audit Log, and from RQ's failed registry for jobs the log missed."""
	limit = validation.integer(limit, "limit", minimum=1, maximum=LIST_MAX)
	return [{k: v for k, v in f.items() if k != "responses"} for f in _outstanding(limit)]


def replay_failed(job_ids: list[str] | None = None, limit: int = 100) -> dict:
	"""Queue failed batches again: the given job ids, or the `limit` oldest outstanding ones.

	Each replay is recorded (status Replayed, under the batch's original correlation id) before it is
	queued, so a replay that fails again shows up as a new failure. Replaying is safe even for a batch
	that did land meanwhile: it changes nothing. Returns the job ids replayed, those that failed again at
	once (queue down and the synchronous write failing too) with the error, and those not found.
	"""
	limit = validation.integer(limit, "limit", minimum=1, maximum=LIST_MAX)
	if job_ids is not None and not isinstance(job_ids, list | tuple):
		raise ValidationError("job_ids", "must be a list of job ids")
	wanted = (
		None
		if job_ids is None
		else [validation.identifier(j, f"job_ids[{i}]") for i, j in enumerate(job_ids)]
	)
	outstanding = {f["job_id"]: f for f in _outstanding(LIST_MAX if wanted else limit)}
	chosen = (
		list(outstanding.values()) if wanted is None else [outstanding[j] for j in wanted if j in outstanding]
	)
	replayed, failed = [], []
	for failure in chosen:
		try:
			replay(failure)
		except (PersistenceFailed, ValidationError) as e:
			failed.append({"job_id": failure["job_id"], "error": str(e)})
		else:
			replayed.append(failure["job_id"])
	return {
		"replayed": replayed,
		"failed": failed,
		"not_found": [j for j in wanted or [] if j not in outstanding],
	}


def replay(failure: dict) -> None:
	with runtime.correlation(failure["correlation_id"]):
		audit_log.write(
			[
				audit_log.entry(
					OPERATION,
					"Replayed",
					job_id=failure["job_id"],
					player=failure["player"],
					season=failure["season"],
					row_count=failure["row_count"],
					details={"source": failure["source"]},
				)
			]
		)
		try:
			runtime.delete_job(failure["job_id"])
		except Exception as e:
			if not runtime.is_queue_unavailable(e):
				raise
		queue_review_batch(failure["responses"], failure["player"], failure["season"])
