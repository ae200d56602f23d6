"""Real RQ worker processes for tests: started with the test run's environment, killed at will."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from memora import runtime


class WorkerProcess:
	def __init__(self, queues: tuple[str, ...] = runtime.QUEUES, env: dict | None = None) -> None:
		args = [sys.executable, "-m", "memora", "worker"]
		for queue in queues:
			args += ["--queue", queue]
		self.process = subprocess.Popen(args, env={**os.environ, **(env or {})}, start_new_session=True)

	def horses(self) -> list[int]:
		"""Pids of the worker's work horses: RQ forks one per job and moves it to a session of its own
		(os.setsid), so signalling the worker's process group does not reach it."""
		pids = []
		for stat in Path("/proc").glob("[0-9]*/stat"):
			try:
				fields = stat.read_text().rsplit(")", 1)[1].split()
			except OSError:
				continue
			if int(fields[1]) == self.process.pid:
				pids.append(int(stat.parent.name))
		return pids

	def kill(self) -> None:
		"""SIGKILL the worker and its work horses: a crash, nothing gets to clean up.

		The worker dies first: a worker that outlives its horse even briefly notices the death and
		files the job as failed, which is not what a machine crash looks like. The horses are listed
		before, while they are still the worker's children."""
		if self.process.poll() is None:
			horses = self.horses()
			os.killpg(self.process.pid, signal.SIGKILL)
			for pid in horses:
				with suppress(ProcessLookupError):
					os.kill(pid, signal.SIGKILL)
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
