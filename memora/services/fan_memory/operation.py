"""One fan memory operation as the service runs it: logged at start and finish with its correlation
id and duration, timed in the metrics, database failures turned into the service's typed errors, and
reads that degrade to no data instead of failing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from memora import runtime
from memora.exceptions import MemoryServiceError, MemoryServiceException, MemoryValidationError
from memora.services import metrics


def ms(started: float) -> float:
	return round((time.perf_counter() - started) * 1000, 3)


@contextmanager
def run(name: str) -> Iterator[dict]:
	"""Log the start and the finish or failure of one operation, with the correlation id and the
	duration, and time it as `memory.<name>` in the metrics. The body adds ids and outcome (never
	message content) to the dict it is given."""
	with runtime.correlation(), metrics.timed(f"memory.{name}"):
		started = time.perf_counter()
		runtime.log(f"memory.{name}.start", logging.DEBUG)
		fields: dict[str, Any] = {}
		try:
			yield fields
		except MemoryServiceException as e:
			runtime.log(
				f"memory.{name}.failed",
				logging.WARNING,
				**{**fields, **e.context},
				error_type=e.type.value,
				duration_ms=ms(started),
			)
			raise
		except Exception as e:
			runtime.log(
				f"memory.{name}.failed",
				logging.ERROR,
				**fields,
				error=type(e).__name__,
				duration_ms=ms(started),
			)
			raise
		runtime.log(f"memory.{name}.finish", **fields, duration_ms=ms(started))


def error_kind(exc: BaseException) -> MemoryServiceError:
	"""TIMEOUT when a statement ran out of time, else DATABASE_ERROR."""
	if runtime.is_statement_timeout(exc):
		return MemoryServiceError.TIMEOUT
	return MemoryServiceError.DATABASE_ERROR


def failure(exc: BaseException, action: str, **ids: str) -> MemoryServiceException:
	kind = error_kind(exc)
	outcome = "timed out" if kind is MemoryServiceError.TIMEOUT else "failed"
	return MemoryServiceException(kind, f"{action} {outcome}", exc, ids)


def cache_left(exc: BaseException, action: str, subject: str) -> MemoryServiceException:
	"""An erasure whose rows are gone but whose cache entries Redis did not take: repeating it is safe."""
	return MemoryServiceException(
		MemoryServiceError.CACHE_ERROR,
		f"the rows are erased but not the cache: call {action} again",
		exc,
		{"subject": subject},
	)


def count_lookups(cache_name: str, hits: int, misses: int) -> None:
	"""A bulk read's hits and misses in two counter updates rather than one per key."""
	if hits:
		metrics.incr("cache_hits", hits, cache=cache_name)
	if misses:
		metrics.incr("cache_misses", misses, cache=cache_name)


def cache_failed(event: str, error: redis.RedisError, fields: dict) -> None:
	"""Redis failed under a read or write: logged, a timeout counted, and the operation told (no
	more cache writes, and CACHE_ERROR in its finish line)."""
	if isinstance(error, redis.TimeoutError):
		metrics.incr("timeouts", operation="redis")
	runtime.log(event, logging.WARNING, error=type(error).__name__)
	fields["cache_error"] = MemoryServiceError.CACHE_ERROR.value


def read_step(step: str, fields: dict, read: Callable[..., dict], *args: Any) -> tuple[dict, bool]:
	"""One bounded read; on a database error or timeout: no data, logged, and the result degraded."""
	try:
		return read(*args), True
	except Exception as e:
		if not runtime.is_db_error(e):
			raise
		kind = error_kind(e)
		if kind is MemoryServiceError.TIMEOUT:
			metrics.incr("timeouts", operation=f"memory.read.{step}")
		runtime.log(
			"memory.read_step_failed",
			logging.WARNING,
			step=step,
			error_type=kind.value,
			error=type(e).__name__,
		)
		fields["degraded"] = True
		return {}, False


def refusal(error: MemoryValidationError) -> dict:
	"""A bad id's place in a bulk answer: what a whole call's refusal would have said."""
	return {"error_type": error.type.value, "field": error.field, "message": error.message}
