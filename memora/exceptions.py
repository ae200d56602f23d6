"""Errors the services raise, and the HTTP status and type name each one reaches a client with (the API
layer, `memora.api.errors`, turns them into Frappe's)."""

from enum import Enum


class MemoraError(Exception):
	"""Base of every error Memora raises on purpose."""


class ValidationError(MemoraError, ValueError):
	"""Bad input. `field` names what was wrong so a client can point at it."""

	def __init__(self, field: str, message: str) -> None:
		super().__init__(f"{field}: {message}")
		self.field = field
		self.message = message


class NotFound(ValidationError):
	"""An argument names something that does not exist (a season, a job). `field` names the argument."""


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
	names its field (so the API reports it the same way)."""

	def __init__(self, field: str, message: str) -> None:
		ValidationError.__init__(self, field, message)
		self.type = MemoryServiceError.VALIDATION_ERROR
		self.original_error = None
		self.context = {"field": field}


# The status a client sees for each kind of failure. Validation is 417, as Frappe answers its own
# ValidationError; 503 (with Retry-After) and 504 tell a client that the same call may succeed later.
HTTP_STATUS = {
	MemoryServiceError.VALIDATION_ERROR: 417,
	MemoryServiceError.NOT_FOUND: 404,
	MemoryServiceError.TIMEOUT: 504,
	MemoryServiceError.CACHE_ERROR: 503,
	MemoryServiceError.DATABASE_ERROR: 503,
}
CONFLICT = "CONFLICT"


def error_type(error: MemoraError) -> str:
	"""The type name a client reads in `error_type`."""
	if isinstance(error, MemoryServiceException):
		return error.type.value
	if isinstance(error, NotFound):
		return MemoryServiceError.NOT_FOUND.value
	if isinstance(error, ValidationError):
		return MemoryServiceError.VALIDATION_ERROR.value
	return CONFLICT


def http_status(error: MemoraError) -> int:
	"""409 for an operation refused in the current state, else the status of its type."""
	name = error_type(error)
	return 409 if name == CONFLICT else HTTP_STATUS[MemoryServiceError(name)]
