"""The workload simulator ("help me decide"): for each desired retention an admin could give a season,
how many reviews a day its players would face over the next days, and how much they would recall.

It starts from the season's real cards (its trackers' memory states and due dates) and its adopted FSRS
parameters, and plays each card forward: a card due on a day is reviewed then, recalled with the
probability the forgetting curve gives, rated as the season's players rate (shares read from its review
log), and scheduled again by FSRS-6 at the desired retention under study. The due dates cards have now
stand (Memora applies a new desired retention from each card's next answer on, as the scheduler does).

fsrs-rs-python's `simulate` plays an empty deck that learns new cards at a daily limit, and takes no
existing cards; so Memora simulates itself, with the `fsrs` package's FSRS-6 formulas (a test checks them
against its Scheduler), a fixed seed (the same states give the same answer) and every retention drawing
the same random numbers card by card, so their differences are the retention's, not chance's: card i's
k-th draw is entry (i * STRIDE + k) of one pool of seeded uniforms.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from memora import runtime
from memora.services import validation
from memora.services.srs import scheduler, seasons
from memora.services.srs.fitting import parameters as weights
from memora.services.srs.fitting.evaluation import DECAY
from memora.services.tables import REVIEW_LOG, TRACKERS

RETENTIONS = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
DEFAULT_DAYS = 30
MAX_DAYS = 365
SEED = 17
POOL = 1 << 20
STRIDE = 2_654_435_761 % POOL  # odd, so cards' windows of the pool spread over all of it
DAY = 86400
# Below this many logged first (or recalled) answers, the season's rating shares are too noisy to use:
# fsrs-rs's simulator defaults (Anki users' shares) stand in.
MIN_RATED = 100
FIRST_SHARES = (0.24, 0.094, 0.495, 0.171)  # Again, Hard, Good, Easy on a card's first answer
RECALLED_SHARES = (0.224, 0.631, 0.145)  # Hard, Good, Easy when a due card is recalled
# Same-day reviews after a first answer, as the fsrs package's learning steps (1 min, 10 min) make them
# when each step is answered Good: Again and Hard start over at step 1, Good goes on to step 2, Easy
# graduates. A lapse adds one relearning step (10 min).
LEARNING_STEPS = {1: 2, 2: 2, 3: 1, 4: 0}
SEPARATOR = "\x1f"
MIN_STABILITY, MIN_DIFFICULTY, MAX_DIFFICULTY = 0.001, 1.0, 10.0
AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class CardState:
	"""A card as the simulator starts it: its memory (None for a card never reviewed, or one the Memora
	ladder scheduled, which keeps no difficulty) and times in days from now (due < 0: overdue)."""

	due: float
	last: float | None = None
	stability: float | None = None
	difficulty: float | None = None


@dataclass(frozen=True)
class Ratings:
	"""How the season's players rate: first answers (Again..Easy) and recalled due cards (Hard..Easy)."""

	first: tuple[float, ...] = FIRST_SHARES
	recalled: tuple[float, ...] = RECALLED_SHARES
	from_log: bool = False


ANKI_RATINGS = Ratings()


class Fsrs:
	"""FSRS-6's memory model with one parameter set: what a review does to stability and difficulty. The
	simulator calls these millions of times, so constants are worked out once and clamps are comparisons."""

	def __init__(self, w: Sequence[float]) -> None:
		self.w = w = tuple(w)
		self.decay = -w[DECAY]
		self.factor = 0.9 ** (1 / self.decay) - 1
		self.growth = math.exp(w[8])
		self.easy_difficulty = w[4] - math.exp(w[5] * 3) + 1
		self.lapse_floor = math.exp(w[17] * w[18])

	def retrievability(self, elapsed: float, stability: float) -> float:
		return (1 + self.factor * (elapsed if elapsed > 0 else 0.0) / stability) ** self.decay

	def interval_factor(self, retention: float) -> float:
		"""Days per day of stability at `retention` (the interval is stability times this, rounded)."""
		return (retention ** (1 / self.decay) - 1) / self.factor

	def initial(self, rating: int) -> tuple[float, float]:
		w = self.w
		difficulty = w[4] - math.exp(w[5] * (rating - 1)) + 1
		return max(w[rating - 1], MIN_STABILITY), min(max(difficulty, MIN_DIFFICULTY), MAX_DIFFICULTY)

	def difficulty(self, difficulty: float, rating: int) -> float:
		w = self.w
		damped = difficulty + (10.0 - difficulty) * -(w[6] * (rating - 3)) / 9.0
		reverted = w[7] * self.easy_difficulty + (1 - w[7]) * damped
		return (
			MIN_DIFFICULTY
			if reverted < MIN_DIFFICULTY
			else MAX_DIFFICULTY
			if reverted > MAX_DIFFICULTY
			else reverted
		)

	def short_term(self, stability: float, rating: int) -> float:
		"""Stability after a review the same day as the previous one."""
		w = self.w
		increase = math.exp(w[17] * (rating - 3 + w[18])) * stability ** -w[19]
		if rating > AGAIN and increase < 1.0:
			increase = 1.0
		stability *= increase
		return stability if stability > MIN_STABILITY else MIN_STABILITY

	def recalled(self, stability: float, difficulty: float, r: float, rating: int) -> float:
		w = self.w
		growth = self.growth * (11 - difficulty) * stability ** -w[9] * (math.exp((1 - r) * w[10]) - 1)
		if rating == HARD:
			growth *= w[15]
		elif rating == EASY:
			growth *= w[16]
		stability *= 1 + growth
		return stability if stability > MIN_STABILITY else MIN_STABILITY

	def forgotten(self, stability: float, difficulty: float, r: float) -> float:
		w = self.w
		long_term = w[11] * difficulty ** -w[12] * ((stability + 1) ** w[13] - 1) * math.exp((1 - r) * w[14])
		short_term = stability / self.lapse_floor
		stability = long_term if long_term < short_term else short_term
		return stability if stability > MIN_STABILITY else MIN_STABILITY


def simulate_season(season: str, days: int = DEFAULT_DAYS) -> dict:
	"""The season's expected workload and recall for each desired retention in RETENTIONS, over the next
	`days` days, from its trackers now and its adopted parameters."""
	season = seasons.existing_season(season)
	days = validation.integer(days, "days", 1, MAX_DAYS)
	adopted = scheduler.load_season_parameters(season)
	settings = runtime.settings()
	current = adopted.desired_retention or settings.desired_retention
	cards = card_states(season, runtime.now())
	ratings = rating_shares(season)
	return {
		"season": season,
		"days": days,
		"cards": len(cards),
		"parameters_version": adopted.version,
		"desired_retention": current,
		"ratings_from_log": ratings.from_log,
		"scenarios": simulate(
			cards, adopted.weights or weights.DEFAULT, days, ratings, settings.maximum_interval_days
		),
	}


def simulate(
	cards: Sequence[CardState],
	w: Sequence[float],
	days: int,
	ratings: Ratings = ANKI_RATINGS,
	maximum_interval: int = 36500,
	retentions: Sequence[float] = RETENTIONS,
	seed: int = SEED,
) -> list[dict]:
	"""One scenario per desired retention: reviews on each day (same-day learning steps included), the
	expected share of due reviews (a day or more after the previous one) recalled, and how many cards the
	players would recall at the end (the sum of the cards' recall probabilities then)."""
	model = Fsrs(w)
	rng = random.Random(seed)
	pool = [rng.random() for _ in range(POOL)]
	return [_scenario(model, cards, days, ratings, maximum_interval, r, pool) for r in retentions]


def _scenario(
	model: Fsrs,
	cards: Sequence[CardState],
	days: int,
	ratings: Ratings,
	maximum_interval: int,
	retention: float,
	pool: list[float],
) -> dict:
	per_day = [0] * days
	due_reviews, recall_sum, memorized = 0, 0.0, 0.0
	first_cum, recalled_cum = _cumulative(ratings.first), _cumulative(ratings.recalled)
	per_stability = model.interval_factor(retention)
	retrievability, short_term, difficulty = model.retrievability, model.short_term, model.difficulty
	recalled_stability, forgotten_stability = model.recalled, model.forgotten
	for index, card in enumerate(cards):
		draw = (index * STRIDE) % POOL
		at, last, s, d = max(card.due, 0.0), card.last, card.stability, card.difficulty
		while at < days:
			day = int(at)
			if s is None or d is None or last is None:
				rating = _pick(first_cum, pool[draw % POOL]) + AGAIN
				draw += 1
				s, d = model.initial(rating)
				per_day[day] += 1 + LEARNING_STEPS[rating]
				for _ in range(LEARNING_STEPS[rating]):
					s, d = short_term(s, GOOD), difficulty(d, GOOD)
			else:
				elapsed = at - last
				r = retrievability(elapsed, s)
				recalled = pool[draw % POOL] < r
				rating = _pick(recalled_cum, pool[(draw + 1) % POOL]) + HARD if recalled else AGAIN
				draw += 2
				per_day[day] += 1
				if elapsed < 1:
					s = short_term(s, rating)
				else:
					due_reviews += 1
					recall_sum += r
					s = recalled_stability(s, d, r, rating) if recalled else forgotten_stability(s, d, r)
				d = difficulty(d, rating)
				if not recalled:
					# The relearning step, answered Good the same day.
					per_day[day] += 1
					s, d = short_term(s, GOOD), difficulty(d, GOOD)
			last = at
			interval = round(s * per_stability)
			at += 1 if interval < 1 else maximum_interval if interval > maximum_interval else interval
		if s is not None and last is not None:
			memorized += retrievability(days - last, s)
	total = sum(per_day)
	return {
		"desired_retention": retention,
		"reviews_per_day": per_day,
		"average_reviews_per_day": round(total / days, 2),
		"total_reviews": total,
		"due_reviews": due_reviews,
		"expected_retention": round(recall_sum / due_reviews, 4) if due_reviews else None,
		"memorized_at_end": round(memorized, 1),
	}


def _cumulative(shares: Sequence[float]) -> list[float]:
	total, running, out = sum(shares), 0.0, []
	for share in shares:
		running += share / total
		out.append(running)
	return out


def _pick(cumulative: list[float], u: float) -> int:
	"""The index of the share `u` (uniform on [0, 1)) falls in."""
	index = 0
	while index < len(cumulative) - 1 and u >= cumulative[index]:
		index += 1
	return index


def card_states(season: str, now) -> list[CardState]:
	"""Every scheduled card of the season (a tracker with a next review date), times in days from `now`
	(a naive datetime in the system zone, as the columns are). Each row is read as one text column, which
	PyMySQL decodes far faster than five typed ones (as `fitting.log` does)."""
	rows = runtime.db().sql(
		f"""select concat_ws(char(31), coalesce(state, ''), coalesce(stability, 0),
			coalesce(difficulty, 0), coalesce(timestampdiff(second, %s, last_review_date), ''),
			timestampdiff(second, %s, next_review_date))
		from {TRACKERS} where season = %s and next_review_date is not null""",
		(now, now, season),
	)
	cards = []
	for (text,) in rows:
		state, stability, difficulty, last, due = text.split(SEPARATOR)
		s, d = float(stability), float(difficulty)
		if state in ("Learning", "Review", "Relearning") and s > 0 and d > 0 and last:
			cards.append(CardState(int(due) / DAY, int(last) / DAY, s, d))
		else:
			cards.append(CardState(int(due) / DAY))
	return cards


def rating_shares(season: str) -> Ratings:
	"""How the season's players rate first answers and recalled cards in Review, from its log; the
	defaults when it holds fewer than MIN_RATED of either."""
	rows = runtime.db().sql(
		f"""select state_before, rating, count(*) from {REVIEW_LOG}
		where season = %s and state_before in ('New', 'Review') and rating between 1 and 4
		group by state_before, rating""",
		(season,),
	)
	first, recalled = [0] * 4, [0] * 3
	for state, rating, count in rows:
		if state == "New":
			first[int(rating) - 1] += int(count)
		elif int(rating) > AGAIN:
			recalled[int(rating) - 2] += int(count)
	if sum(first) < MIN_RATED or sum(recalled) < MIN_RATED:
		return ANKI_RATINGS
	return Ratings(tuple(first), tuple(recalled), from_log=True)
