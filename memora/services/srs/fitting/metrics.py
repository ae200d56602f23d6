"""How well predicted recall probabilities match what players did: log loss, RMSE(bins) and AUC, the
three figures open-spaced-repetition's srs-benchmark reports, so Memora's numbers compare with it.

Each held-out review is (y, p): y = 1 when the player recalled the card (any rating but Again), p the
probability a parameter set gave to that. RMSE(bins) also needs, per review, the days since the
card's previous review, its position in the card's history (1 = first review) and the card's lapses
before it (Again after at least a day).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

# Probabilities are kept this far from 0 and 1, so one confident miss cannot make the log loss infinite.
EPSILON = 1e-6


def recall_probability(elapsed_days: float, stability: float, decay: float) -> float:
	"""FSRS-6's forgetting curve: 0.9 after `stability` days, with the set's decay (parameter 20)."""
	factor = 0.9 ** (-1 / decay) - 1
	return (1 + factor * elapsed_days / stability) ** -decay


def recall_probability_sql(elapsed_days: str, stability: str, decay: str) -> str:
	"""`recall_probability` as a MariaDB expression over SQL operands (columns, placeholders), so analytics
	can bin a season's predictions where its log is, without reading every row."""
	return f"pow(1 + (pow(0.9, -1 / ({decay})) - 1) * ({elapsed_days}) / ({stability}), -({decay}))"


def log_loss(y: Sequence[int], p: Sequence[float]) -> float:
	"""Mean negative log-likelihood of the outcomes (lower is better)."""
	total = 0.0
	for outcome, prob in zip(y, p, strict=True):
		prob = min(1 - EPSILON, max(EPSILON, prob))
		total -= math.log(prob if outcome else 1 - prob)
	return total / len(y)


def rmse_bins(
	y: Sequence[int],
	p: Sequence[float],
	elapsed_days: Sequence[float],
	positions: Sequence[int],
	lapses: Sequence[int],
) -> float:
	"""srs-benchmark's RMSE(bins): reviews are binned by elapsed days, position in the history and
	lapses, each on a log scale; the RMSE between mean outcome and mean prediction per bin, weighted
	by the bin's reviews. Unlike log loss it measures calibration across kinds of reviews."""
	bins: dict[tuple[float, float, float], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
	for outcome, prob, days, position, lapse in zip(y, p, elapsed_days, positions, lapses, strict=True):
		kept = bins[(log_bin(days, 2.48, 3.62, 2), log_bin(position, 1.99, 1.89, 0), lapse_bin(lapse))]
		kept[0] += outcome
		kept[1] += prob
		kept[2] += 1
	squares = sum((outcomes - probs) ** 2 / count for outcomes, probs, count in bins.values())
	return math.sqrt(squares / len(y))


def log_bin(value: float, scale: float, base: float, digits: int) -> float:
	"""`scale * base ** floor(log_base(value))`, rounded as srs-benchmark rounds it."""
	return round(scale * base ** math.floor(math.log(max(value, 1e-6)) / math.log(base)), digits)


def lapse_bin(lapses: int) -> float:
	return log_bin(lapses, 1.65, 1.73, 0) if lapses else 0


def auc(y: Sequence[int], p: Sequence[float]) -> float | None:
	"""Area under the ROC curve (the chance a recalled review got a higher p than a forgotten one; ties
	count half); None when the reviews are all of one outcome."""
	positives = sum(y)
	negatives = len(y) - positives
	if not positives or not negatives:
		return None
	order = sorted(range(len(p)), key=p.__getitem__)
	rank_sum, start = 0.0, 0
	while start < len(order):
		end = start
		while end + 1 < len(order) and p[order[end + 1]] == p[order[start]]:
			end += 1
		# Tied predictions share the mean of their ranks (1-based).
		mean_rank = (start + end) / 2 + 1
		rank_sum += mean_rank * sum(y[i] for i in order[start : end + 1])
		start = end + 1
	return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
