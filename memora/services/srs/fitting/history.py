"""A season's review log as FSRS reads it: each card's reviews in time order, in whole days.

FSRS counts time in whole days: a review's delta is the days since the card's previous review rounded
down, which is what the fsrs package computes when it schedules (a learning step ten minutes later is
a delta of 0, a same-day review). A card is one question of one player.

A history must start at the card's first review (`elapsed_days` 0): a card whose first logged review
follows reviews the log never saw (a log begun mid-season) is left out, as FSRS would start its
memory from the wrong place.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from fsrs_rs_python import FSRSItem, FSRSReview

# Review times are read as microseconds since this naive instant, in MariaDB's naive (system time zone)
# datetimes: only their order and the split's moment use them.
EPOCH = datetime(1970, 1, 1)


def naive_time(reviewed_us: int) -> datetime:
	"""A review time (µs) as the naive datetime MariaDB stores."""
	return EPOCH + timedelta(microseconds=reviewed_us)


class LogReview(NamedTuple):
	"""What fitting reads of one review log row."""

	player: str
	question_id: str
	reviewed_us: int  # the review time in microseconds: orders a card's reviews and places the split
	rating: int
	elapsed_days: float


@dataclass(frozen=True, slots=True)
class CardHistory:
	"""One card's reviews, oldest first."""

	reviewed_us: tuple[int, ...]
	ratings: tuple[int, ...]
	deltas: tuple[int, ...]

	def __len__(self) -> int:
		return len(self.ratings)

	def trainable(self, index: int) -> bool:
		"""FSRS learns (and is judged) on reviews a day or more after the previous one; same-day
		reviews only move the memory state."""
		return index > 0 and self.deltas[index] > 0

	def fsrs_reviews(self) -> list[FSRSReview]:
		return [FSRSReview(rating, delta) for rating, delta in zip(self.ratings, self.deltas, strict=True)]

	def item(self, reviews: list[FSRSReview], index: int) -> FSRSItem:
		"""The fsrs-rs item of review `index`: its history up to and including it."""
		return FSRSItem(reviews[: index + 1])


@dataclass(frozen=True)
class Histories:
	"""A season's cards, with how many log rows were read and how many cards were left out."""

	cards: list[CardHistory]
	reviews: int
	partial_cards: int


def card_histories(reviews: Iterable[LogReview]) -> Histories:
	"""Group log rows by card and order each card's reviews by time."""
	by_card: dict[tuple[str, str], list[tuple[int, int, float]]] = defaultdict(list)
	count = 0
	for review in reviews:
		by_card[(review.player, review.question_id)].append(
			(review.reviewed_us, review.rating, review.elapsed_days)
		)
		count += 1
	cards, partial = [], 0
	for rows in by_card.values():
		rows.sort()
		if rows[0][2] != 0:
			partial += 1
			continue
		cards.append(
			CardHistory(
				reviewed_us=tuple(row[0] for row in rows),
				ratings=tuple(int(row[1]) for row in rows),
				deltas=(0, *(math.floor(row[2]) for row in rows[1:])),
			)
		)
	return Histories(cards, count, partial)
