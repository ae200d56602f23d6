"""Errors the services raise; the API layer turns them into Frappe's (`memora.api.utils`)."""


class MemoraError(Exception):
	"""Base of every error Memora raises on purpose."""


class ValidationError(MemoraError, ValueError):
	"""Bad input. `field` names what was wrong so a client can point at it."""

	def __init__(self, field: str, message: str) -> None:
		super().__init__(f"{field}: {message}")
		self.field = field
		self.message = message


class NotAllowed(MemoraError):
	"""The operation is refused in the current state (not a permission problem)."""
