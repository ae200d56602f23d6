"""Review logs with a known answer: players reviewing with a known FSRS-6 parameter set (not the
default) while the platform schedules them with the defaults, as Memora does before any fit.

Each card's true memory follows GENERATING exactly (fsrs-rs's own model step, the one the scheduler's
fsrs package agrees with): a review recalls the card with the probability GENERATING's forgetting
curve gives, and the rating is then noisy: Again when forgotten, else Hard, Good or Easy at random.
Wrong answers and hard first answers come back ten minutes later (same-day learning steps); the rest
come back after the platform's interval, often late. Times step in whole days and ten-minute steps,
so a review's whole days since the previous one are exact.

Free of Frappe (rows go in through the runtime seam), so the standalone suite, the benchmarks and the
site tests generate the same logs.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from fsrs_rs_python import FSRS, MemoryState

from memora import runtime
from memora.services.srs.fitting.history import EPOCH, LogReview
from memora.services.srs.fitting.metrics import recall_probability
from memora.services.srs.fitting.parameters import DEFAULT

# Faster forgetting early on, a much steeper curve (decay 0.45 against 0.1542) and slower growth of
# stability than the defaults assume.
GENERATING = (
	0.1, 0.5, 1.2, 4.0, 7.0, 0.6, 2.2, 0.02, 0.5, 0.25, 0.7, 1.9, 0.09, 0.35, 1.2,
	0.35, 2.4, 0.6, 0.12, 0.08, 0.45,
)  # fmt: skip
SEASON = "Fit Season"
START = datetime(2026, 1, 5)
DAY = 86400
STEP = 600  # a same-day learning step, in seconds
FIRST_WEIGHTS = (0.15, 0.15, 0.55, 0.15)  # first answer: Again, Hard, Good, Easy
RECALLED_WEIGHTS = (0.15, 0.7, 0.15)  # a recalled card: Hard, Good, Easy
NAMES = ("again", "hard", "good", "easy")
DURATION_MS = {1: 4000, 2: 8000, 3: 3000, 4: 1000}  # what the answer -> rating mapping turns into each


def simulate(
	players: int,
	cards: int,
	days: int,
	seed: int,
	parameters: tuple[float, ...] = GENERATING,
	season: str = SEASON,
	first_player: int = 0,
) -> list[dict]:
	"""Review log rows (the columns of Memora Review Log) of `players` x `cards` cards over `days` days;
	each card is introduced on a random day of the first half. Players are numbered from
	`first_player` (a large log is made a group of players at a time)."""
	rng = random.Random(seed)
	truth, platform = FSRS(list(parameters)), FSRS(list(DEFAULT))
	rows: list[dict] = []
	for p in range(first_player, first_player + players):
		player = f"player{p}@fit.test"
		hour = rng.randrange(8, 22) * 3600
		for c in range(cards):
			first = rng.randrange(max(1, days // 2)) * DAY + hour
			rows.extend(card_reviews(rng, truth, platform, parameters, player, f"q{c}", first, days, season))
	return rows


def card_reviews(
	rng: random.Random,
	truth: FSRS,
	platform: FSRS,
	parameters: tuple[float, ...],
	player: str,
	question_id: str,
	at: int,
	days: int,
	season: str,
) -> list[dict]:
	rows: list[dict] = []
	true_memory = platform_memory = previous_at = None
	elapsed, elapsed_s = 0, 0
	while at < days * DAY:
		if true_memory is None:
			rating = rng.choices((1, 2, 3, 4), FIRST_WEIGHTS)[0]
		elif rng.random() < recall_probability(elapsed, true_memory.stability, parameters[20]):
			rating = rng.choices((2, 3, 4), RECALLED_WEIGHTS)[0]
		else:
			rating = 1
		before = platform_memory
		true_memory = getattr(truth.next_states(true_memory, 0.9, elapsed), NAMES[rating - 1]).memory
		scheduled = getattr(platform.next_states(platform_memory, 0.9, elapsed), NAMES[rating - 1])
		platform_memory = scheduled.memory
		if rating == 1 or (before is None and rating == 2):
			elapsed, elapsed_s = 0, STEP
		else:
			late = 1 + rng.expovariate(3) if rng.random() < 0.7 else rng.uniform(0.6, 1.0)
			elapsed = max(1, round(scheduled.interval * late))
			elapsed_s = elapsed * DAY
		since = 0.0 if previous_at is None else (at - previous_at) / DAY
		rows.append(
			log_row(
				player, question_id, season, at, len(rows), rating, since, before, platform_memory, elapsed_s
			)
		)
		previous_at, at = at, at + elapsed_s
	return rows


def log_row(
	player: str,
	question_id: str,
	season: str,
	at: int,
	index: int,
	rating: int,
	elapsed_days: float,
	before: MemoryState | None,
	after: MemoryState,
	next_s: int,
) -> dict:
	reviewed_at = START + timedelta(seconds=at)
	return {
		"name": f"fit-{player}-{question_id}-{index}",
		"player": player,
		"season": season,
		"question_id": question_id,
		"rating": rating,
		"reviewed_at": reviewed_at,
		"duration_ms": DURATION_MS[rating],
		"elapsed_days": elapsed_days,
		"state_before": "New" if before is None else "Review",
		"stability_before": 0.0 if before is None else before.stability,
		"difficulty_before": 0.0 if before is None else before.difficulty,
		"state_after": "Review",
		"stability_after": after.stability,
		"difficulty_after": after.difficulty,
		"next_review_date": reviewed_at + timedelta(seconds=next_s),
		"scheduler": "FSRS",
		"parameters_version": "default",
	}


def log_reviews(rows: list[dict]) -> list[LogReview]:
	"""The rows as fitting reads them from MariaDB."""
	return [
		LogReview(
			row["player"],
			row["question_id"],
			(row["reviewed_at"] - EPOCH) // timedelta(microseconds=1),
			row["rating"],
			row["elapsed_days"],
		)
		for row in rows
	]


def insert_log(rows: list[dict], chunk: int = 2000) -> None:
	"""Write log rows straight to Memora Review Log (the columns of the first row), and commit."""
	database = runtime.db()
	columns = list(rows[0])
	for start in range(0, len(rows), chunk):
		part = rows[start : start + chunk]
		values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(part))
		database.sql(
			f"insert into `tabMemora Review Log` ({', '.join(columns)}) values {values}",
			[row[c] for row in part for c in columns],
		)
	database.commit()
