"""A TCP proxy a test can cut: stands in front of the real MariaDB or Redis to simulate an outage
without touching the machine's shared servers."""

from __future__ import annotations

import socket
import threading


class CuttableProxy:
	"""Forwards 127.0.0.1:<port> to a target. `cut()` drops every connection and refuses new ones
	until `restore()`."""

	def __init__(self, target_host: str, target_port: int) -> None:
		self.target = (target_host, target_port)
		self.listener = socket.create_server(("127.0.0.1", 0))
		self.port = self.listener.getsockname()[1]
		self.connections: set[socket.socket] = set()
		self.lock = threading.Lock()
		self.is_cut = False
		self.closed = False
		# Connections refused while cut: a test waits for a client to have tried (and retried)
		# rather than for a time.
		self.refused = 0
		# Cleared by `hold()`: what clients send is taken but not passed on, so they wait for answers.
		self.flowing = threading.Event()
		self.flowing.set()
		threading.Thread(target=self._accept_loop, daemon=True).start()

	def _accept_loop(self) -> None:
		while not self.closed:
			try:
				client, _ = self.listener.accept()
			except OSError:
				return
			if self.is_cut:
				self.refused += 1
				client.close()
				continue
			try:
				upstream = socket.create_connection(self.target, timeout=5)
			except OSError:
				client.close()
				continue
			upstream.settimeout(None)
			with self.lock:
				self.connections.update((client, upstream))
			threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
			threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

	def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
		try:
			while data := source.recv(65536):
				self.flowing.wait()
				sink.sendall(data)
		except OSError:
			pass
		finally:
			self._drop(source, sink)

	def _drop(self, *socks: socket.socket) -> None:
		with self.lock:
			for sock in socks:
				self.connections.discard(sock)
				try:
					sock.shutdown(socket.SHUT_RDWR)
				except OSError:
					pass
				sock.close()

	def cut(self) -> None:
		"""Simulate the server going away: live connections die, new ones are refused."""
		self.is_cut = True
		with self.lock:
			socks = list(self.connections)
		self._drop(*socks)

	def restore(self) -> None:
		self.is_cut = False

	def hold(self) -> None:
		"""Simulate a server that stops answering: connections stay up, requests go unanswered."""
		self.flowing.clear()

	def flow(self) -> None:
		self.flowing.set()

	def close(self) -> None:
		self.closed = True
		self.flow()
		self.cut()
		self.listener.close()
