"""What every benchmark module uses: a throwaway database, a partitioned season, timing helpers, and the
result record."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from memora import runtime, standalone
from memora.services.srs import partitions


@dataclass
class Result:
	"""One measured figure, with the baseline it is compared to in the same run."""

	benchmark: str
	metric: str
	value: float
	unit: str
	baseline: float | None = None
	baseline_label: str = ""
	target: str = ""
	passed: bool | None = None
	notes: str = ""
	extra: dict = field(default_factory=dict)

	@property
	def ratio(self) -> float | None:
		"""How many times better than the baseline: for times, baseline/value; for rates, value/baseline."""
		if not self.baseline or not self.value:
			return None
		return self.baseline / self.value if self.unit in ("ms", "s", "µs") else self.value / self.baseline

	def as_dict(self) -> dict:
		return {**asdict(self), "ratio": self.ratio}


@dataclass
class Context:
	scale: float
	quick: bool


@contextmanager
def throwaway_database(purpose: str) -> Iterator[str]:
	name = standalone.throwaway_name(f"bench_{purpose}")
	standalone.create_database(name)
	try:
		yield name
	finally:
		standalone.drop_database(name)


def partitioned_season(name: str, start_date: str, end_date: str, active: bool = False) -> None:
	"""A season row, written straight to MariaDB, with its own partition of the tracker table."""
	db = runtime.db()
	db.sql(
		"insert into `tabMemora Season` (name, season_name, is_active, start_date, end_date) "
		"values (%s, %s, %s, %s, %s)",
		(name, name, int(active), start_date, end_date),
	)
	db.commit()
	partitions.create_partition(name)


def sample(func: Callable[[], object], iterations: int, warmup: int = 20) -> list[float]:
	"""Per-call service time in milliseconds."""
	for _ in range(warmup):
		func()
	times = []
	for _ in range(iterations):
		start = time.perf_counter()
		func()
		times.append((time.perf_counter() - start) * 1000)
	return times


def percentile(values: list[float], pct: float) -> float:
	ordered = sorted(values)
	if not ordered:
		return 0.0
	index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
	return ordered[index]


def p50(values: list[float]) -> float:
	return statistics.median(values) if values else 0.0
