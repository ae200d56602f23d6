"""Exponential time decay: a value's weight halves every half-life.

A decayed sum is kept as (total, at), the sum as of time `at`. Adding a value at time `ts` moves
`at` forward to `ts` when `ts` is later (decaying the old total) or decays the value back to `at`
when it is earlier, so the sum is the same whatever order the values arrive in.
"""

from __future__ import annotations

DAY = 86400.0
HOUR = 3600.0


def factor(age: float, half_life: float) -> float:
	"""Weight left after `age` seconds; an age below zero (a clock a little ahead) counts as now."""
	return 2.0 ** (-max(age, 0.0) / half_life)


def shift(at: float | None, ts: float, half_life: float) -> tuple[float, float, float]:
	"""How to add a value stamped `ts` to sums kept as of `at`:
	(factor for the old totals, factor for the new value, the sums' new reference time)."""
	if at is None:
		return 0.0, 1.0, ts
	if ts >= at:
		return factor(ts - at, half_life), 1.0, ts
	return 1.0, factor(at - ts, half_life), at


def add(total: float, at: float | None, value: float, ts: float, half_life: float) -> tuple[float, float]:
	"""The decayed sum (total, at) with `value` stamped `ts` added."""
	keep, weight, new_at = shift(at, ts, half_life)
	return total * keep + value * weight, new_at
