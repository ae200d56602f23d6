"""Engagement score: how engaged a fan is with a creator right now, in [0, 1].

A posterior mean with a 0.5 prior, built from recency, frequency and monetary value:

	score = (k/2 + F + M) / (k + F + M + G)

	F  frequency: the sum of every interaction's type weight, each decayed by its age (half-life h)
	M  monetary: log(1 + amount / MONEY_UNIT) per purchase or tip, decayed the same way
	G  recency gap: half-lives since the last interaction, (now - last) / h
	k  prior strength, in weighted interactions

A new fan (F = M = G = 0) scores 0.5. An interaction adds to F + M and resets G, so more activity
never lowers the score; with no activity F + M decays and G grows, so the score falls over time.

Storage: the row keeps the score as of the last interaction, when G = 0. That score fixes the
activity evidence E = F + M exactly, E = k (s - 1/2) / (1 - s), so it is the model's whole state.
"""

from __future__ import annotations

import math

from memora.services.fan_memory import decay

PRIOR = 0.5
PRIOR_STRENGTH = 4.0
TYPE_WEIGHTS = {"view": 0.25, "like": 0.5, "message": 1.0, "tip": 1.0, "purchase": 1.0}
MONEY_UNIT = 10.0
# Keeps 1 - s well inside the column's nine decimals (a score of 0.99998 needs this much activity).
MAX_EVIDENCE = 1e5


def weight(interaction_type: str, amount: float | None = None) -> float:
	"""What one interaction adds to F + M when it happens."""
	return TYPE_WEIGHTS[interaction_type] + math.log1p((amount or 0.0) / MONEY_UNIT)


def score(evidence: float, gap: float = 0.0) -> float:
	k = PRIOR_STRENGTH
	return (k * PRIOR + evidence) / (k + evidence + gap)


def evidence(score_at_last: float) -> float:
	"""E = F + M as of the last interaction, from the score stored then."""
	s = min(max(float(score_at_last), PRIOR), 1.0 - 1e-12)
	return PRIOR_STRENGTH * (s - PRIOR) / (1.0 - s)


def record(
	score_at_last: float, last_ts: float | None, ts: float, added: float, half_life: float
) -> tuple[float, float]:
	"""(score as of the latest interaction, its time) after adding an interaction of weight `added`
	at `ts`; an interaction older than the latest one is decayed back to it."""
	# A first interaction (no `last_ts`) keeps none of the stored evidence: `decay.add` weighs it by 0.
	total, at = decay.add(evidence(score_at_last), last_ts, added, ts, half_life)
	return score(min(total, MAX_EVIDENCE)), at


def current(score_at_last: float, last_ts: float | None, now: float, half_life: float) -> float:
	"""The score now: the stored evidence decayed to `now`, against the gap since the last interaction."""
	if last_ts is None:
		return PRIOR
	age = max(now - last_ts, 0.0)
	return score(evidence(score_at_last) * decay.factor(age, half_life), age / half_life)


def recency(last_ts: float | None, now: float, half_life: float) -> float:
	"""1 right after an interaction, halving every half-life; 0 for a fan never seen."""
	return 0.0 if last_ts is None else decay.factor(now - last_ts, half_life)


def sql_current(score_column: str, last_column: str) -> str:
	"""`current()` as a MariaDB expression over the row's columns; needs the %(now)s and
	%(half_life)s (seconds) parameters. Used where scores of many rows are aggregated."""
	k = PRIOR_STRENGTH
	s = f"least(greatest({score_column}, {PRIOR}), 0.999999999999)"
	age = f"(greatest(timestampdiff(microsecond, {last_column}, %(now)s), 0) / 1e6 / %(half_life)s)"
	evidence_now = f"({k} * ({s} - {PRIOR}) / (1 - {s}) * pow(2, -{age}))"
	return (
		f"if({last_column} is null, {PRIOR}, "
		f"({k * PRIOR} + {evidence_now}) / ({k} + {evidence_now} + {age}))"
	)
