"""Memora's metrics as a test reads them: counters and cache lookups from `metrics_report.snapshot`,
and what moved between two snapshots."""

from __future__ import annotations

from memora.services import metrics, metrics_report


def counter(snapshot: dict, name: str, **labels: str) -> float:
	"""A counter summed over its series whose labels include `labels`."""
	series = snapshot["counters"].get(name, {}).get("series", [])
	return sum(s["value"] for s in series if labels.items() <= s["labels"].items())


def lookups(snapshot: dict, cache_name: str) -> tuple[int, int]:
	figures = snapshot["cache"].get(cache_name, {"hits": 0, "misses": 0})
	return figures["hits"], figures["misses"]


def operation(snapshot: dict, name: str) -> dict:
	return snapshot["operations"].get(name, {"calls": 0, "errors_by_type": {}})


class Moved:
	"""What changed between a snapshot taken now and the one `after()` takes."""

	def __init__(self) -> None:
		self.before = metrics_report.snapshot()
		self.now = self.before

	def after(self) -> Moved:
		self.now = metrics_report.snapshot()
		return self

	def counter(self, name: str, **labels: str) -> float:
		return counter(self.now, name, **labels) - counter(self.before, name, **labels)

	def lookups(self, cache_name: str) -> tuple[int, int]:
		(hits, misses), (hits_before, misses_before) = (
			lookups(self.now, cache_name),
			lookups(self.before, cache_name),
		)
		return hits - hits_before, misses - misses_before

	def calls(self, name: str) -> int:
		return operation(self.now, name)["calls"] - operation(self.before, name)["calls"]

	def errors(self, name: str, kind: str) -> int:
		now, before = operation(self.now, name), operation(self.before, name)
		return now["errors_by_type"].get(kind, 0) - before["errors_by_type"].get(kind, 0)

	def lag_calls(self) -> int:
		return self.calls(metrics.PERSISTENCE_LAG)

	def total_ms(self, name: str) -> float:
		"""The durations recorded for an operation in between, summed."""
		now, before = operation(self.now, name), operation(self.before, name)
		return (now.get("avg_ms") or 0) * now["calls"] - (before.get("avg_ms") or 0) * before["calls"]
