"""A batch: one player's reviews in one season, validated whole before anything is written.

Every value is bounded to fit its tracker column (the upsert relies on it), and a batch's job id is
derived from its reviews, so a batch sent again is recognised by RQ, by the idempotency window and
by `get_persistence_status`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, NamedTuple

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import validation
from memora.services.srs.card import CARD_STATES, derived_review_id

JOB_ID_START = "memora-persist-"
MAX_BATCH = 10_000
RATING_MAX = 5
# The largest values the tracker's columns hold: decimal(21,9) and int(11).
DECIMAL_MAX = 999_999_999_999.0
INT_MAX = 2**31 - 1
# Unix times outside these bounds are mistakes (milliseconds sent as seconds, and the like).
TS_MIN, TS_MAX = 0.0, 32503680000.0  # 1970-01-01 .. 3000-01-01 UTC


class Batch(NamedTuple):
	"""One player's validated reviews in one season: what a persistence job writes."""

	user: str
	season: str
	states: list[dict]

	@property
	def job_id(self) -> str:
		return batch_job_id(self.user, self.season, self.states)


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


def _review_id(response: dict, user: str, season: str) -> str:
	"""The client's review id, else one derived from the player, the season and the whole response, so
	the same response sent twice is recognised as one review."""
	if response.get("review_id") not in (None, ""):
		return validation.identifier(response["review_id"], "review_id")
	return derived_review_id(user, season, json.dumps(response, sort_keys=True, default=str))


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
	state_before = response.get("state_before") or None
	if state_before is not None and state_before not in CARD_STATES:
		raise ValidationError("state_before", f"must be one of {', '.join(CARD_STATES)}")
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
		"subject": validation.optional_text(response.get("subject"), "subject"),
		"topic": validation.optional_text(response.get("topic"), "topic"),
		# For the review log. A state without them (a tracker row's, or one queued before the log existed)
		# is logged with no state before and zeros: unknown, not "New".
		"duration_ms": validation.integer(
			response.get("duration_ms") or 0, "duration_ms", minimum=0, maximum=INT_MAX
		),
		"elapsed_days": validation.number(
			response.get("elapsed_days") or 0, "elapsed_days", minimum=0, maximum=DECIMAL_MAX
		),
		"state_before": state_before,
		"stability_before": validation.number(
			response.get("stability_before") or 0, "stability_before", minimum=0, maximum=DECIMAL_MAX
		),
		"difficulty_before": validation.number(
			response.get("difficulty_before") or 0, "difficulty_before", minimum=0, maximum=DECIMAL_MAX
		),
		"scheduler": validation.optional_text(response.get("scheduler"), "scheduler"),
		"parameters_version": validation.optional_text(
			response.get("parameters_version"), "parameters_version"
		),
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
