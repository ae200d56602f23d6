"""A throwaway redis-server on a free port, for tests that stop and restart Redis."""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from tests.harness.net import free_port


class ThrowawayRedis:
	def __init__(self) -> None:
		self.binary = shutil.which("redis-server")
		if not self.binary:
			raise RuntimeError(
				"redis-server is not installed; fault tests need it to start a throwaway Redis"
			)
		self.port = free_port()
		self.process: subprocess.Popen | None = None

	@property
	def url(self) -> str:
		return f"redis://127.0.0.1:{self.port}/0"

	def start(self) -> None:
		self.process = subprocess.Popen(
			[
				self.binary,
				"--port",
				str(self.port),
				"--bind",
				"127.0.0.1",
				"--save",
				"",
				"--appendonly",
				"no",
			],
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
		deadline = time.monotonic() + 10
		while time.monotonic() < deadline:
			try:
				if client.ping():
					return
			except redis.ConnectionError:
				time.sleep(0.05)
		raise RuntimeError(f"throwaway redis-server on port {self.port} did not start")

	def stop(self) -> None:
		if self.process and self.process.poll() is None:
			self.process.terminate()
			self.process.wait(timeout=10)
		self.process = None
