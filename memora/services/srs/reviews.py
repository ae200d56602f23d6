"""Review sessions: the cards a player should review now, and accepting their answers.

Submitting validates every answer before anything changes, computes the new card states from the
newest ones (a pending review if there is one, else the tracker row), puts them live in Redis
together with their pending records, then hands the durable write to `srs_persistence`; the call
returns before MariaDB is written.
"""

from __future__ import annotations

import json
from typing import Any

from memora import runtime
from memora.exceptions import ValidationError
from memora.runtime import Settings
from memora.services import validation
from memora.services.srs import persistence, review_counts, scheduler, seasons, trackers
from memora.services.srs.card import derived_review_id
from memora.services.srs.queue import DueItems, SRSRedisManager, cache_ttl
from memora.services.srs.scheduler import Answer

MAX_DURATION_MS = 3_600_000
TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")


def get_review_session(
	user: str,
	season: str | None = None,
	subject: str | None = None,
	topic: str | None = None,
	limit: Any = 20,
) -> dict:
	"""The player's due cards (earliest first) and how many more are due after them.

	Unfiltered sessions are served from the sorted set. A subject or topic filter needs the
	tracker's columns, so it is answered from MariaDB with pending reviews laid over it.
	"""
	user = validation.identifier(user, "user")
	season = validation.season_name(season) if season else seasons.require_active_season()
	limit = validation.integer(limit, "limit", 1, runtime.settings().review_session_limit)
	subject = validation.optional_text(subject, "subject")
	topic = validation.optional_text(topic, "topic")
	manager = SRSRedisManager()
	if subject is None and topic is None:
		due = manager.due_session(user, season, limit)
	else:
		due = filtered_due(manager, user, season, subject, topic, limit)
	return {
		"season": season,
		"questions": due.question_ids,
		"due_count": due.due_count,
		"remaining": due.due_count - len(due.question_ids),
		"was_rehydrated": due.was_rehydrated,
		"safe_mode": due.safe_mode,
	}


def submit_review_session(user: str, season: str, responses: Any) -> dict:
	"""Apply a batch of answers; returns each card's new schedule and the persistence job id.

	A response whose review_id is the one that produced the card's newest state was already
	applied (a client retry): it changes nothing and is handed to persistence again, which is
	idempotent, so a retry after a lost reply is safe.
	"""
	user = validation.identifier(user, "user")
	season = validation.season_name(season)
	settings = runtime.settings()
	answers = parse_responses(responses, settings.review_session_limit)
	seasons.require_open_season(season)
	grading = Grading(user, season, answers, round(runtime.now_ts(), 6), settings)
	_, safe_mode = SRSRedisManager().apply_reviews(
		user, season, [a.question_id for a in answers], grading.grade, ttl=cache_ttl(settings)
	)
	if safe_mode:
		job_id = persistence.persist_safe_mode_batch(grading.states, user, season)
	else:
		job_id = persistence.queue_review_batch(grading.states, user, season)
	if not safe_mode:
		review_counts.record(season, sum(not r["already_applied"] for r in grading.results))
	return {
		"season": season,
		"accepted": len(grading.results),
		"results": grading.results,
		"persistence_job_id": job_id,
		"safe_mode": safe_mode,
	}


class Grading:
	"""Turns answers into card states. `grade` is pure, as an optimistic write may call it again."""

	def __init__(
		self, user: str, season: str, answers: list[Answer], reviewed_at: float, settings: Settings
	) -> None:
		self.user, self.season, self.answers = user, season, answers
		self.reviewed_at, self.settings = reviewed_at, settings
		self.season_parameters = scheduler.season_parameters(settings, season)
		self.states: list[dict] = []
		self.results: list[dict] = []

	def grade(self, current: dict[str, dict | None]) -> list[dict]:
		"""New states to write, given the newest state of every known card (None: never reviewed)."""
		self.states, self.results, changed = [], [], []
		for index, answer in enumerate(self.answers):
			if answer.question_id not in current:
				raise ValidationError(
					f"responses[{index}].question_id",
					f"{answer.question_id!r} is not in your review queue for season {self.season}",
				)
			previous = current[answer.question_id]
			review_id = answer.review_id or answer_review_id(
				self.user, self.season, answer.question_id, self.reviewed_at
			)
			replayed = bool(previous) and previous.get("review_id") == review_id
			if replayed:
				state = previous
			else:
				state = scheduler.next_state(
					previous, answer, review_id, self.reviewed_at, self.settings, self.season_parameters
				)
				changed.append(state)
			self.states.append(state)
			self.results.append(result(state, replayed))
		return changed


def answer_review_id(user: str, season: str, question_id: str, reviewed_at: float) -> str:
	"""The review id of an answer sent without one: its question and its time (to the microsecond)."""
	return derived_review_id(user, season, question_id, str(round(reviewed_at * 1_000_000)))


def result(state: dict, replayed: bool) -> dict:
	return {
		"question_id": state["question_id"],
		"review_id": state["review_id"],
		"rating": state["last_rating"],
		"state": state["state"],
		"stability": state["stability"],
		"difficulty": state["difficulty"],
		"next_review_ts": state["next_review_ts"],
		"already_applied": replayed,
	}


def filtered_due(
	manager: SRSRedisManager, user: str, season: str, subject: str | None, topic: str | None, limit: int
) -> DueItems:
	"""Due cards of one subject/topic: tracker rows, with pending reviews taking precedence."""
	now = runtime.now_ts()
	pending = manager.pending_states(user, season)
	schedule = trackers.filtered_schedule(user, season, subject, topic)
	for qid, state in (pending or {}).items():
		if (subject is None or state.get("subject") == subject) and (
			topic is None or state.get("topic") == topic
		):
			schedule[qid] = float(state["next_review_ts"])
		else:
			schedule.pop(qid, None)
	due = sorted((ts, qid) for qid, ts in schedule.items() if ts <= now)
	return DueItems([qid for _, qid in due[:limit]], len(due), False, pending is None)


# --- input --------------------------------------------------------------------------------------


def parse_responses(responses: Any, limit: int) -> list[Answer]:
	"""Every answer checked (the first bad field is named) before any is applied."""
	if isinstance(responses, str):
		try:
			responses = json.loads(responses)
		except ValueError:
			raise ValidationError("responses", "must be a JSON list of answers") from None
	if not isinstance(responses, list) or not responses:
		raise ValidationError("responses", "must be a non-empty list of answers")
	if len(responses) > limit:
		raise ValidationError("responses", f"must hold at most {limit} answers")
	answers = [parse_answer(item, f"responses[{i}]") for i, item in enumerate(responses)]
	for attribute in ("question_id", "review_id"):
		seen: set[str] = set()
		for index, answer in enumerate(answers):
			value = getattr(answer, attribute)
			if value is not None and value in seen:
				raise ValidationError(f"responses[{index}].{attribute}", f"{value!r} appears twice")
			seen.add(value)
	return answers


def parse_answer(item: Any, field: str) -> Answer:
	if not isinstance(item, dict):
		raise ValidationError(field, "must be an object with question_id, is_correct and duration_ms")
	review_id = item.get("review_id")
	return Answer(
		question_id=validation.identifier(item.get("question_id"), f"{field}.question_id"),
		is_correct=boolean(item.get("is_correct"), f"{field}.is_correct"),
		duration_ms=validation.integer(item.get("duration_ms"), f"{field}.duration_ms", 0, MAX_DURATION_MS),
		review_id=validation.optional_text(review_id, f"{field}.review_id"),
	)


def boolean(value: Any, field: str) -> bool:
	"""true/false, 1/0, or their string forms (form posts send strings)."""
	if isinstance(value, bool):
		return value
	if isinstance(value, int) and value in (0, 1):
		return bool(value)
	if isinstance(value, str) and value.strip().lower() in (*TRUE_WORDS, *FALSE_WORDS):
		return value.strip().lower() in TRUE_WORDS
	raise ValidationError(field, "must be true or false")
