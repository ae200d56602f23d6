"""The time-ordered split: parameters are fitted on the earlier reviews and judged on the later ones,
as they will be used (on reviews that had not happened when they were fitted). The cut is a moment:
every trainable review before it trains, every one at or after it is held out; a held-out review's
history may reach back past the cut, as a real prediction's would.
"""

from __future__ import annotations

from fsrs_rs_python import FSRSItem

from memora.services.srs.fitting.history import CardHistory

# The share of trainable reviews held out, the latest ones.
TEST_SHARE = 0.2


def cut(cards: list[CardHistory], test_share: float = TEST_SHARE) -> int | None:
	"""The review time (µs) from which reviews are held out; None when there is nothing to split."""
	times = sorted(card.reviewed_us[i] for card in cards for i in range(1, len(card)) if card.trainable(i))
	if len(times) < 2:
		return None
	return times[min(len(times) - 1, int(len(times) * (1 - test_share)))]


def counts(cards: list[CardHistory], cut_us: int) -> tuple[int, int]:
	"""(trainable reviews before the cut, trainable reviews held out)."""
	train = test = 0
	for card in cards:
		for index in range(1, len(card)):
			if card.trainable(index):
				if card.reviewed_us[index] < cut_us:
					train += 1
				else:
					test += 1
	return train, test


def train_items(cards: list[CardHistory], cut_us: int) -> list[FSRSItem]:
	"""One fsrs-rs item per trainable review before the cut, each with its card's history."""
	items = []
	for card in cards:
		if len(card) < 2 or card.reviewed_us[1] >= cut_us:
			continue
		reviews = card.fsrs_reviews()
		items.extend(
			card.item(reviews, index)
			for index in range(1, len(card))
			if card.trainable(index) and card.reviewed_us[index] < cut_us
		)
	return items
