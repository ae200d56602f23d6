"""Input checks shared by the services. Each raises `ValidationError` naming the field at fault."""

from __future__ import annotations

import math
import re
from typing import Any

from memora.exceptions import ValidationError

SEASON_NAME_MAX = 60
# ASCII only on purpose: look-alike letters from other scripts must not pass for season names.
SEASON_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")
IDENTIFIER_MAX = 140
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f]")


def season_name(value: Any, field: str = "season") -> str:
	"""A season name: letters, digits, space, '-', '_', '.'; at most 60; no leading or trailing space.

	Season names reach DDL (partition values), so this is the first of two guards; the partition
	manager also quotes them.
	"""
	if not isinstance(value, str) or not value:
		raise ValidationError(field, "is required and must be a string")
	if len(value) > SEASON_NAME_MAX:
		raise ValidationError(field, f"must be at most {SEASON_NAME_MAX} characters")
	if value != value.strip() or not SEASON_NAME_RE.fullmatch(value):
		raise ValidationError(
			field,
			"may only contain letters, digits, space, '-', '_' and '.', and must not start or end with a space",
		)
	return value


def identifier(value: Any, field: str, max_length: int = IDENTIFIER_MAX) -> str:
	"""A non-empty id (user, question, fan, creator) that fits a varchar(140) column."""
	if isinstance(value, int) and not isinstance(value, bool):
		value = str(value)
	if not isinstance(value, str) or not value.strip():
		raise ValidationError(field, "is required and must be a non-empty string")
	if len(value) > max_length:
		raise ValidationError(field, f"must be at most {max_length} characters")
	# MariaDB ignores trailing spaces when it compares, Redis does not: one id, two meanings.
	if value != value.strip():
		raise ValidationError(field, "must not begin or end with whitespace")
	# isprintable() is false for every control character and quick: the search runs only when it fails.
	if not value.isprintable() and CONTROL_CHARACTERS.search(value):
		raise ValidationError(field, "must not contain control characters")
	return value


def optional_text(value: Any, field: str) -> str | None:
	"""An identifier-like text that may be left out (None or empty)."""
	return None if value in (None, "") else identifier(value, field)


def integer(value: Any, field: str, minimum: int | None = None, maximum: int | None = None) -> int:
	"""An int within bounds; numeric strings are accepted (form posts send strings)."""
	number = value if type(value) is int else _as_integer(value, field)
	if minimum is not None and number < minimum:
		raise ValidationError(field, f"must be at least {minimum}")
	if maximum is not None and number > maximum:
		raise ValidationError(field, f"must be at most {maximum}")
	return number


def _as_integer(value: Any, field: str) -> int:
	"""`value` as an int when it is one in another type: a float without a fraction, a numeric string."""
	if isinstance(value, bool):
		raise ValidationError(field, "must be an integer")
	try:
		number = int(value)
	except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
		raise ValidationError(field, "must be an integer") from None
	if isinstance(value, float) and not value.is_integer():
		raise ValidationError(field, "must be an integer")
	return number


def number(
	value: Any,
	field: str,
	minimum: float | None = None,
	exclusive_minimum: bool = False,
	maximum: float | None = None,
) -> float:
	"""A finite float, optionally bounded."""
	result = value if type(value) is float else _as_float(value, field)
	if not math.isfinite(result):
		raise ValidationError(field, "must be a finite number")
	if minimum is not None and (result <= minimum if exclusive_minimum else result < minimum):
		raise ValidationError(
			field, f"must be {'greater than' if exclusive_minimum else 'at least'} {minimum}"
		)
	if maximum is not None and result > maximum:
		raise ValidationError(field, f"must be at most {maximum:g}")
	return result


def _as_float(value: Any, field: str) -> float:
	"""`value` as a float when it is a number of another type or a numeric string."""
	if isinstance(value, bool):
		raise ValidationError(field, "must be a number")
	try:
		return float(value)
	except (TypeError, ValueError, OverflowError):  # OverflowError: an int past a float's range
		raise ValidationError(field, "must be a number") from None
