"""What the demo is measured with: its sizes (scaled from one knob), timing helpers, and a real worker
process for the length of a block."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from memora import runtime


@dataclass(frozen=True)
class Sizes:
	"""How much the demo does; `scale` 1 takes about a minute on 2 cores."""

	players: int
	questions: int
	past_players: int
	past_questions: int
	sessions: int
	answers: int
	fans: int
	interactions: int
	drifted_players: int

	@classmethod
	def scaled(cls, scale: float) -> Sizes:
		def n(base: int) -> int:
			return max(1, round(base * scale))

		return cls(
			players=n(3000),
			questions=50,
			past_players=n(1000),
			past_questions=20,
			sessions=n(600),
			answers=20,
			fans=n(120),
			interactions=20,
			drifted_players=n(20),
		)


def percentile(values: list[float], pct: float) -> float:
	ordered = sorted(values)
	return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if ordered else 0.0


def timed(func, *args, **kwargs) -> tuple[object, float]:
	"""(result, milliseconds) of one call."""
	start = time.perf_counter()
	result = func(*args, **kwargs)
	return result, (time.perf_counter() - start) * 1000


def take(iterator: Iterator, n: int) -> list:
	return [item for _, item in zip(range(n), iterator, strict=False)]


def flat(rows: list[tuple]) -> list:
	return [value for row in rows for value in row]


@contextmanager
def worker_process() -> Iterator[subprocess.Popen]:
	"""A real RQ worker in its own process for the length of the block, then a warm shutdown.

	Outside a bench: `python -m memora worker` on the demo database; in a site: Frappe's worker."""
	args = runtime.worker_command()
	process = subprocess.Popen(args, env=os.environ.copy(), start_new_session=True, stdout=subprocess.DEVNULL)
	try:
		yield process
	finally:
		if process.poll() is None:
			os.killpg(process.pid, signal.SIGTERM)
			try:
				process.wait(timeout=30)
			except subprocess.TimeoutExpired:
				os.killpg(process.pid, signal.SIGKILL)
				process.wait()
