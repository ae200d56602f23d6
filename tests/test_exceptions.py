"""Each kind of Memora error reaches a REST client with one status and one type name."""

import pytest

from memora.exceptions import (
	MemoryServiceError,
	MemoryServiceException,
	MemoryValidationError,
	NotAllowed,
	NotFound,
	ValidationError,
	error_type,
	http_status,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
	("error", "status", "kind"),
	[
		(ValidationError("season", "is required"), 417, "VALIDATION_ERROR"),
		(MemoryValidationError("fan_id", "is required"), 417, "VALIDATION_ERROR"),
		(NotFound("season", "does not exist"), 404, "NOT_FOUND"),
		(NotAllowed("the season is active"), 409, "CONFLICT"),
		(MemoryServiceException(MemoryServiceError.TIMEOUT, "timed out"), 504, "TIMEOUT"),
		(MemoryServiceException(MemoryServiceError.CACHE_ERROR, "down"), 503, "CACHE_ERROR"),
		(MemoryServiceException(MemoryServiceError.DATABASE_ERROR, "down"), 503, "DATABASE_ERROR"),
	],
)
def test_each_error_has_one_status_and_type(error, status, kind):
	assert (http_status(error), error_type(error)) == (status, kind)
