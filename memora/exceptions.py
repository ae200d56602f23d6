"""Errors the services raise; the API layer turns them into Frappe's (`memora.api.utils`)."""

from enum import Enum


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


class MemoryServiceError(str, Enum):
	"""How a fan memory operation failed; the values of the TypeScript service's enum."""

	CACHE_ERROR = "CACHE_ERROR"
	DATABASE_ERROR = "DATABASE_ERROR"
	VALIDATION_ERROR = "VALIDATION_ERROR"
	NOT_FOUND = "NOT_FOUND"
	TIMEOUT = "TIMEOUT"


class MemoryServiceException(MemoraError):
	"""A fan memory operation failed. `context` holds ids and counts, never message content."""

	def __init__(
		self,
		type: MemoryServiceError,
		message: str,
		original_error: BaseException | None = None,
		context: dict | None = None,
	) -> None:
		super().__init__(message)
		self.type = type
		self.message = message
		self.original_error = original_error
		self.context = context or {}


# Both bases define __init__: this class has its own, which sets what each base expects.
class MemoryValidationError(MemoryServiceException, ValidationError):  # nosem: baseclass-attribute-override
	"""Bad input to the fan memory service: a VALIDATION_ERROR that, like every `ValidationError`,
	names its field (so `raise_as_frappe` reports it the same way)."""

	def __init__(self, field: str, message: str) -> None:
		ValidationError.__init__(self, field, message)
		self.type = MemoryServiceError.VALIDATION_ERROR
		self.original_error = None
		self.context = {"field": field}
