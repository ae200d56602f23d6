"""Durable writes of accepted reviews: a background job upserts a batch of card states into MariaDB.

Contract used by the SRS engine: `queue_review_batch(states, user, season) -> job_id` hands over a
batch of card states (see `pending_reviews` for their shape) that are already live in Redis.
"""

from __future__ import annotations

import hashlib

from memora import runtime
from memora.services import pending_reviews

TRACKER_TABLE = "`tabPlayer Memory Tracker`"
CARD_COLUMNS = (
	"subject",
	"topic",
	"stability",
	"difficulty",
	"state",
	"step",
	"reps",
	"lapses",
	"last_rating",
	"next_review_date",
	"last_review_id",
)


def tracker_name(user: str, season: str, question_id: str) -> str:
	"""Deterministic row name, so the same card always maps to the same primary key."""
	return hashlib.sha1(f"{user}\0{season}\0{question_id}".encode()).hexdigest()[:20]


def batch_job_id(user: str, season: str, states: list[dict]) -> str:
	"""Same batch, same job id: a resubmitted batch is recognised by RQ and by `get_persistence_status`."""
	digest = hashlib.sha1("\0".join(sorted(s["review_id"] for s in states)).encode()).hexdigest()[:16]
	return f"memora-persist-{digest}"


def queue_review_batch(states: list[dict], user: str, season: str) -> str:
	"""Queue the durable write of `states`; returns the job id."""
	job_id = batch_job_id(user, season, states)
	runtime.enqueue(
		"memora.services.srs_persistence.persist_review_batch",
		queue=runtime.settings().persistence_queue,
		job_id=job_id,
		responses=states,
		user=user,
		season=season,
	)
	return job_id


def row_values(state: dict, user: str, season: str, now) -> tuple:
	return (
		tracker_name(user, season, state["question_id"]),
		now,
		now,
		user,
		season,
		state["question_id"],
		state.get("subject"),
		state.get("topic"),
		state.get("stability") or 0,
		state.get("difficulty") or 0,
		state.get("state") or "New",
		state.get("step") or 0,
		state.get("reps") or 0,
		state.get("lapses") or 0,
		state.get("last_rating") or 0,
		runtime.from_ts(state["next_review_ts"]),
		state["review_id"],
		runtime.from_ts(state["reviewed_at"]),
	)


def upsert_sql(rows: int) -> str:
	"""One multi-row upsert. A row only moves forward: columns change only when the incoming review is
	newer than the stored one, and last_review_date is assigned last because MariaDB applies the
	assignments left to right."""
	newer = "(last_review_date is null or values(last_review_date) > last_review_date)"
	updates = [f"`{c}` = if({newer}, values(`{c}`), `{c}`)" for c in (*CARD_COLUMNS, "modified")]
	updates.append(f"`last_review_date` = if({newer}, values(`last_review_date`), `last_review_date`)")
	placeholders = ", ".join(["(" + ", ".join(["%s"] * 18) + ")"] * rows)
	return (
		f"insert into {TRACKER_TABLE} (name, creation, modified, player, season, question_id, "
		+ ", ".join(f"`{c}`" for c in CARD_COLUMNS)
		+ f", last_review_date) values {placeholders} on duplicate key update "
		+ ", ".join(updates)
	)


def persist_review_batch(responses: list[dict], user: str, season: str, retry_count: int = 0) -> dict:
	"""Upsert a batch in one round trip, commit, then clear the pending states it made durable."""
	now = runtime.now()
	database = runtime.db()
	values = [v for state in responses for v in row_values(state, user, season, now)]
	database.sql(upsert_sql(len(responses)), values)
	database.commit()
	pending_reviews.clear_persisted(user, season, [(s["question_id"], s["review_id"]) for s in responses])
	return {"success": True, "processed_count": len(responses), "failed_count": 0, "errors": []}
