"""Real RQ worker processes for tests: started with the test run's environment, killed at will."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


class WorkerProcess:
	def __init__(
		self, queues: tuple[str, ...] = ("short", "default", "long"), env: dict | None = None
	) -> None:
		args = [sys.executable, "-m", "memora", "worker"]
		for queue in queues:
			args += ["--queue", queue]
		self.process = subprocess.Popen(args, env={**os.environ, **(env or {})}, start_new_session=True)

	def kill(self) -> None:
		"""SIGKILL the worker and its work horse: a crash, nothing gets to clean up."""
		if self.process.poll() is None:
			os.killpg(self.process.pid, signal.SIGKILL)
			self.process.wait(timeout=10)

	def stop(self, timeout: float = 10) -> None:
		"""Warm shutdown: the worker finishes its current job, then exits."""
		if self.process.poll() is None:
			os.killpg(self.process.pid, signal.SIGTERM)
			try:
				self.process.wait(timeout=timeout)
			except subprocess.TimeoutExpired:
				self.kill()

	@property
	def alive(self) -> bool:
		return self.process.poll() is None


def wait_until(predicate, timeout: float = 15, interval: float = 0.05) -> bool:
	"""Poll until `predicate()` is truthy; False on timeout (the caller asserts)."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		if predicate():
			return True
		time.sleep(interval)
	return bool(predicate())
