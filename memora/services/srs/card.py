"""A card: one question in one player's season. Its state is the record every part of the SRS engine
passes around (the scheduler makes it, Redis keeps it pending, persistence writes it to the player's
tracker row); this module is the one place its shape, its row's name and its columns are defined.
"""

from __future__ import annotations

import hashlib
from typing import NotRequired, TypedDict

from memora.schema import load_doctype

TRACKER_DOCTYPE = "Player Memory Tracker"
# The tracker columns that hold a card's memory, as the scheduler changes it.
MEMORY_COLUMNS = ("stability", "difficulty", "state", "step", "reps", "lapses", "last_rating")
# Every tracker column a card state is read from.
STATE_COLUMNS = (
	"question_id",
	"subject",
	"topic",
	*MEMORY_COLUMNS,
	"last_review_id",
	"last_review_date",
	"next_review_date",
)


class CardState(TypedDict):
	"""A card after a review (or as its tracker row says). Times are Unix seconds."""

	question_id: str
	review_id: str | None  # the review that produced this state; None for a row no review wrote
	reviewed_at: float | None
	next_review_ts: float
	stability: float
	difficulty: float
	state: str  # one of CARD_STATES
	step: int
	reps: int
	lapses: int
	last_rating: int
	subject: str | None
	topic: str | None
	# What the review log keeps of the review besides the state it made (`scheduler.next_state` sets them
	# all). Absent from a state read from a tracker row, or queued by a release before the log: its log row
	# then has no state before, zeros for the numbers and no scheduler (docs/srs.md, "The review log").
	duration_ms: NotRequired[int]
	elapsed_days: NotRequired[float]  # since the card's previous review; 0 for its first
	state_before: NotRequired[str]  # "New" before a card's first review
	stability_before: NotRequired[float]
	difficulty_before: NotRequired[float]
	scheduler: NotRequired[str]  # Memora Settings `scheduler_algorithm`
	parameters_version: NotRequired[str]  # `scheduler.parameters_version`


def _select_options(doctype: str, fieldname: str) -> tuple[str, ...]:
	field = next(f for f in load_doctype(doctype)["fields"] if f["fieldname"] == fieldname)
	return tuple(field["options"].split("\n"))


CARD_STATES = _select_options(TRACKER_DOCTYPE, "state")


def tracker_name(user: str, season: str, question_id: str) -> str:
	"""Deterministic row name, so the same card always maps to the same primary key."""
	return hashlib.sha1(f"{user}\0{season}\0{question_id}".encode()).hexdigest()[:20]


def tracker_name_sql(player: str, season: str, question_id: str) -> str:
	"""`tracker_name` as an SQL expression over three columns (the SHA-1 of the same UTF-8 bytes)."""
	separator = "char(0 using utf8mb4)"
	return f"left(sha1(concat({player}, {separator}, {season}, {separator}, {question_id})), 20)"


def derived_review_id(user: str, season: str, *identity: str) -> str:
	"""The review id when the client sends none, from what identifies the review (the question and its
	time for an answer, the whole response for a persisted state): the same review sent twice gets
	the same id, so it is recognised as one."""
	source = "\0".join((user, season, *identity))
	return "srs-" + hashlib.sha256(source.encode()).hexdigest()[:32]
