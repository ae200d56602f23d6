"""Next card state from the previous one and an answer: FSRS-6 (default) or the Memora ladder.

An answer is (question_id, is_correct, duration_ms). FSRS wants a rating, so the answer maps to one
with the same speed bands the ladder uses (Memora Settings `fast_answer_ms`, `slow_answer_ms`):

	wrong                         -> Again (1)
	correct, faster than fast     -> Easy  (4)
	correct, fast..slow inclusive -> Good  (3)
	correct, slower than slow     -> Hard  (2)

FSRS runs with fuzzing off: the same review must always produce the same state, so a retried
submission or a replayed history is reproducible. It schedules a season with the parameters fitted to
its review log once one fit has been adopted (`fitting.fit`), and with the season's desired retention.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from fsrs import Card, Rating, Scheduler, State

from memora import runtime
from memora.runtime import Settings
from memora.services.srs.fitting import parameters as weights
from memora.services.tables import SEASONS

FSRS = "FSRS"
LADDER = "Memora Ladder"
DAY = 86400
# The review log's parameters version of answers scheduled without fitted parameters.
DEFAULT_PARAMETERS = "default"

# The ladder: level 1-4, wrong -> 1, fast +2, normal +1, slow unchanged; next review after these days.
LADDER_DAYS = {1: 1, 2: 3, 3: 7, 4: 14}
LADDER_STEP = {Rating.Easy: 2, Rating.Good: 1, Rating.Hard: 0}
LADDER_TOP = max(LADDER_DAYS)


@dataclass(frozen=True)
class Answer:
	question_id: str
	is_correct: bool
	duration_ms: int
	review_id: str | None = None


def rating(answer: Answer, fast_ms: int, slow_ms: int) -> Rating:
	if not answer.is_correct:
		return Rating.Again
	if answer.duration_ms < fast_ms:
		return Rating.Easy
	if answer.duration_ms <= slow_ms:
		return Rating.Good
	return Rating.Hard


@dataclass(frozen=True)
class SeasonParameters:
	"""What FSRS schedules a season with: its adopted weights (None: the package's defaults), their
	version as the review log records it, and its desired retention (None: Memora Settings')."""

	weights: tuple[float, ...] | None = None
	version: str = DEFAULT_PARAMETERS
	desired_retention: float | None = None


DEFAULT_SEASON = SeasonParameters()

# How long a process reuses a season's parameters: the review path must not read the season row on every
# submission. An adoption applies at once in the adopting process (`forget_season_parameters`) and in every
# other one within this many seconds, as Memora Settings do (runtime.config.SITE_SETTINGS_TTL).
SEASON_PARAMETERS_TTL = 10.0
_seasons: dict[tuple[str, str], tuple[float, SeasonParameters]] = {}


def season_parameters(settings: Settings, season: str) -> SeasonParameters:
	"""What schedules `season`'s answers now; the ladder's fixed days take no parameters."""
	if settings.scheduler_algorithm == LADDER:
		return DEFAULT_SEASON
	key, now = (runtime.key_prefix(), season), time.monotonic()
	kept = _seasons.get(key)
	if kept is None or kept[0] <= now:
		kept = (now + SEASON_PARAMETERS_TTL, load_season_parameters(season))
		_seasons[key] = kept
	return kept[1]


def parameters_version(settings: Settings, season: str) -> str:
	"""The version of the parameters that schedule `season`'s answers, as the review log records it:
	"default" (the package's weights, or the ladder's fixed days) until the season has fitted ones."""
	return season_parameters(settings, season).version


def forget_season_parameters() -> None:
	"""Drop this process's copies (after a season's parameters or desired retention changed)."""
	_seasons.clear()


def load_season_parameters(season: str) -> SeasonParameters:
	rows = runtime.db().sql(
		f"select fsrs_parameters, parameters_version, desired_retention from {SEASONS} where name = %s",
		(season,),
	)
	if not rows:
		return DEFAULT_SEASON
	stored, version, retention = rows[0]
	adopted = weights.parse(stored)
	retention = float(retention or 0)
	return SeasonParameters(
		weights=adopted,
		version=(version or DEFAULT_PARAMETERS) if adopted else DEFAULT_PARAMETERS,
		desired_retention=retention if 0 < retention < 1 else None,
	)


def next_state(
	previous: dict | None,
	answer: Answer,
	review_id: str,
	reviewed_at: float,
	settings: Settings,
	season: SeasonParameters = DEFAULT_SEASON,
) -> dict:
	"""The card state after `answer`, given the newest known state (None for a card never reviewed),
	with what the review log keeps of the review (the card before it, what scheduled it). `season` is
	`season_parameters`' answer for the card's season."""
	grade = rating(answer, settings.fast_answer_ms, settings.slow_answer_ms)
	if settings.scheduler_algorithm == LADDER:
		schedule = ladder(previous, grade, reviewed_at)
	else:
		schedule = fsrs_schedule(previous, grade, reviewed_at, settings, season)
	previous = previous or {}
	lapsed = grade == Rating.Again and previous.get("state") == State.Review.name
	return {
		"question_id": answer.question_id,
		"review_id": review_id,
		"reviewed_at": reviewed_at,
		"reps": int(previous.get("reps") or 0) + 1,
		"lapses": int(previous.get("lapses") or 0) + int(lapsed),
		"last_rating": int(grade),
		"subject": previous.get("subject"),
		"topic": previous.get("topic"),
		**schedule,
		**before(previous, reviewed_at),
		"duration_ms": answer.duration_ms,
		"scheduler": settings.scheduler_algorithm,
		"parameters_version": season.version,
	}


def before(previous: dict, reviewed_at: float) -> dict:
	"""The card as the review found it, for the review log: "New" and zeros for a card never reviewed."""
	last = previous.get("reviewed_at")
	return {
		"state_before": previous.get("state") or "New",
		"stability_before": float(previous.get("stability") or 0),
		"difficulty_before": float(previous.get("difficulty") or 0),
		"elapsed_days": max(0.0, (reviewed_at - last) / DAY) if last else 0.0,
	}


@lru_cache(maxsize=32)
def fsrs_scheduler(
	parameters: tuple[float, ...], desired_retention: float, maximum_interval: int
) -> Scheduler:
	return Scheduler(
		parameters=parameters,
		desired_retention=desired_retention,
		maximum_interval=maximum_interval,
		enable_fuzzing=False,
	)


def utc(ts: float) -> datetime:
	return datetime.fromtimestamp(ts, tz=timezone.utc)


def fsrs_card(previous: dict | None, reviewed_at: float) -> Card:
	"""The fsrs Card for a stored state. A card without FSRS memory (never reviewed, or scheduled by
	the ladder, which keeps no difficulty) starts as a new FSRS card."""
	if (
		not previous
		or previous.get("state") not in (State.Learning.name, State.Review.name, State.Relearning.name)
		or not previous.get("stability")
		or not previous.get("difficulty")
		or not previous.get("reviewed_at")
	):
		return Card(card_id=0, state=State.Learning, step=0, due=utc(reviewed_at))
	state = State[previous["state"]]
	return Card(
		card_id=0,
		state=state,
		step=None if state == State.Review else int(previous.get("step") or 0),
		stability=float(previous["stability"]),
		difficulty=float(previous["difficulty"]),
		due=utc(previous["next_review_ts"]),
		last_review=utc(previous["reviewed_at"]),
	)


def fsrs_schedule(
	previous: dict | None, grade: Rating, reviewed_at: float, settings: Settings, season: SeasonParameters
) -> dict:
	scheduler = fsrs_scheduler(
		season.weights or weights.DEFAULT,
		season.desired_retention or settings.desired_retention,
		settings.maximum_interval_days,
	)
	card, _ = scheduler.review_card(fsrs_card(previous, reviewed_at), grade, utc(reviewed_at))
	return {
		"state": card.state.name,
		"step": card.step or 0,
		"stability": card.stability,
		"difficulty": card.difficulty,
		"next_review_ts": round(card.due.timestamp()),
	}


def ladder(previous: dict | None, grade: Rating, reviewed_at: float) -> dict:
	"""The Memora ladder. A card with FSRS memory enters at its stability, clamped to the ladder."""
	level = min(LADDER_TOP, int((previous or {}).get("stability") or 0))
	level = 1 if grade == Rating.Again else min(LADDER_TOP, max(1, level + LADDER_STEP[grade]))
	return {
		"state": State.Review.name,
		"step": 0,
		"stability": float(level),
		"difficulty": 0.0,
		"next_review_ts": round(reviewed_at + LADDER_DAYS[level] * DAY),
	}
