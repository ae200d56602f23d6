"""Memora's one retry policy, on tenacity: exponential backoff with jitter, each retry counted in the
metrics and logged. Persistence and fan memory differ only in their numbers (fan memory keeps the
TypeScript service's: 3 attempts, 100 ms doubling to at most 2 s, plus up to 30 %)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from memora import runtime
from memora.services import metrics


class wait_jittered_exponential(wait_exponential):
	"""tenacity's exponential wait plus up to `jitter` of the delay at random, so clients that failed
	together do not retry together."""

	def __init__(self, initial: float, maximum: float, jitter: float) -> None:
		super().__init__(multiplier=initial, max=maximum)
		self.jitter = jitter

	def __call__(self, retry_state: RetryCallState) -> float:
		delay = super().__call__(retry_state)
		return min(delay * (1 + random.uniform(0, self.jitter)), self.max)


def policy(
	operation: str,
	event: str,
	attempts: int,
	initial: float,
	maximum: float,
	jitter: float,
	retry_on: Callable[[BaseException], bool],
	on_retry: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
	"""Up to `attempts` tries of what `retry_on` accepts, `initial` seconds apart and doubling to at most
	`maximum`, each delay plus up to `jitter` of it. Every retry is counted under `operation` and
	logged as `event`; `on_retry` may record more (an audit row) before the wait."""

	def before_sleep(state: RetryCallState) -> None:
		metrics.incr("retries", operation=operation)
		runtime.log(
			event,
			logging.WARNING,
			attempt=state.attempt_number,
			error=type(state.outcome.exception()).__name__,
			delay_ms=round(state.next_action.sleep * 1000),
		)
		if on_retry:
			on_retry(state)

	return Retrying(
		stop=stop_after_attempt(max(1, attempts)),
		wait=wait_jittered_exponential(initial, maximum, jitter),
		retry=retry_if_exception(retry_on),
		before_sleep=before_sleep,
		reraise=True,
	)


# The TypeScript fan memory service's numbers: 3 attempts, 100 ms doubling to at most 2 s, plus up to 30 %.
WAITED_ON = (3, 0.1, 2.0, 0.3)


def waited_on(operation: str, event: str, retry_on: Callable[[BaseException], bool]) -> Retrying:
	"""The policy of a call someone waits on (fan memory, an erasure): a few quick retries."""
	return policy(operation, event, *WAITED_ON, retry_on)
