"""FSRS-6 parameters as the scheduler takes them: the fsrs package's defaults, a fitted set made
acceptable to it, and the version string a set is known by.

fsrs-rs fits in float32 and may land a hair outside the bounds the fsrs package's Scheduler checks
(it refuses any set with one value out of bounds), so a fitted set is rounded to 6 decimals and
clamped to those bounds before it is evaluated, stored or used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from fsrs.scheduler import DEFAULT_PARAMETERS, LOWER_BOUNDS_PARAMETERS, UPPER_BOUNDS_PARAMETERS

DEFAULT = tuple(DEFAULT_PARAMETERS)
DECIMALS = 6


def for_scheduler(raw: Sequence[float]) -> tuple[float, ...]:
	"""`raw` rounded and clamped to the bounds of the fsrs package's Scheduler."""
	if len(raw) != len(DEFAULT):
		raise ValueError(f"FSRS-6 takes {len(DEFAULT)} parameters, got {len(raw)}")
	return tuple(
		min(high, max(low, round(float(value), DECIMALS)))
		for value, low, high in zip(raw, LOWER_BOUNDS_PARAMETERS, UPPER_BOUNDS_PARAMETERS, strict=True)
	)


def version(parameters: Sequence[float], fitted_at: datetime) -> str:
	"""When the set was fitted and a digest of it, e.g. `20261121-3f9a1c2b`: the review log records it
	beside every review, so a review can be traced to the set that scheduled it."""
	digest = hashlib.sha256(json.dumps(list(parameters)).encode()).hexdigest()[:8]
	return f"{fitted_at:%Y%m%d}-{digest}"


def parse(stored: str | None) -> tuple[float, ...] | None:
	"""A set stored on a season (a JSON list), made acceptable to the scheduler; None when there is
	none or it is not a list of 21 numbers (the caller then schedules with the defaults)."""
	if not stored:
		return None
	try:
		return for_scheduler(json.loads(stored))
	except (TypeError, ValueError):
		return None
