"""A parameter set judged on held-out reviews: the recall probability it gives each review from the
card's history before it, against whether the player recalled the card.

The histories and outcomes are built once; every set (the season's current one, the fitted one, the
generating one in tests) is judged on exactly the same reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fsrs_rs_python import FSRS, FSRSItem

from memora.services.srs.fitting import metrics
from memora.services.srs.fitting.history import CardHistory

DECAY = 20  # index of FSRS-6's decay parameter


@dataclass(frozen=True)
class Metrics:
	log_loss: float
	rmse_bins: float
	auc: float | None

	def as_dict(self, prefix: str) -> dict[str, float | None]:
		return {
			f"{prefix}_log_loss": round(self.log_loss, 6),
			f"{prefix}_rmse_bins": round(self.rmse_bins, 6),
			f"{prefix}_auc": None if self.auc is None else round(self.auc, 6),
		}


class HeldOut:
	"""The trainable reviews at or after the cut."""

	def __init__(self, cards: list[CardHistory], cut_us: int) -> None:
		# Per card with held-out reviews: its history up to its last one, and which reviews are held out.
		self.items: list[FSRSItem] = []
		self.positions: list[list[int]] = []
		self.y: list[int] = []
		self.elapsed: list[int] = []
		self.position: list[int] = []
		self.lapses: list[int] = []
		for card in cards:
			held = [i for i in range(1, len(card)) if card.trainable(i) and card.reviewed_us[i] >= cut_us]
			if not held:
				continue
			self.items.append(card.item(card.fsrs_reviews(), held[-1]))
			self.positions.append(held)
			lapses, held_set = 0, set(held)
			for index in range(held[-1] + 1):
				if index in held_set:
					self.y.append(int(card.ratings[index] > 1))
					self.elapsed.append(card.deltas[index])
					self.position.append(index + 1)
					self.lapses.append(lapses)
				lapses += card.ratings[index] == 1 and card.deltas[index] > 0

	def __len__(self) -> int:
		return len(self.y)

	def predictions(self, parameters: Sequence[float]) -> list[float]:
		"""The recall probability `parameters` give each held-out review, in the order of `y`."""
		states = FSRS(list(parameters)).historical_memory_state_batch(self.items)
		decay = parameters[DECAY]
		# Held-out reviews come card by card, in the order `elapsed` lists them.
		stabilities = (
			card_states[index - 1].stability
			for card_states, held in zip(states, self.positions, strict=True)
			for index in held
		)
		return [
			metrics.recall_probability(days, stability, decay)
			for days, stability in zip(self.elapsed, stabilities, strict=True)
		]

	def metrics(self, parameters: Sequence[float]) -> Metrics:
		p = self.predictions(parameters)
		return Metrics(
			log_loss=metrics.log_loss(self.y, p),
			rmse_bins=metrics.rmse_bins(self.y, p, self.elapsed, self.position, self.lapses),
			auc=metrics.auc(self.y, p),
		)
