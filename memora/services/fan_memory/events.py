"""Interaction events from outside, checked before anything is written.

Fan and creator ids reach MariaDB columns with a case-insensitive collation (utf8mb4_unicode_ci),
where "Fan-1" and "fan-1" are one fan. Ids are therefore limited to visible ASCII, whose only
equivalence under that collation is letter case, and `pair_key` folds case the same way so cache
keys and rows always agree on which pair an id names.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memora import runtime
from memora.exceptions import MemoryValidationError, ValidationError
from memora.services import validation

INTERACTION_TYPES = ("message", "purchase", "tip", "like", "view")
MONETARY_TYPES = ("purchase", "tip")
FIELDS = frozenset({"fan_id", "creator_id", "type", "content", "amount", "timestamp", "metadata", "event_id"})
MAX_CONTENT_LENGTH = 20_000
MAX_METADATA_BYTES = 16_384
MAX_AMOUNT = 1e9
MAX_CLOCK_SKEW = 300.0
MAX_AGE = 20 * 365 * 86400.0
MAX_BULK_FANS = 1000
# A Unix time above this is in milliseconds (JavaScript's Date.now()): in seconds it would be past 5000 AD.
MILLISECONDS_ABOVE = 1e11
# The TypeScript service's InteractionEvent names, for the fields whose names differ.
CAMEL_CASE_FIELDS = {"fanId": "fan_id", "creatorId": "creator_id", "eventId": "event_id"}


@dataclass(frozen=True)
class Interaction:
	fan_id: str
	creator_id: str
	type: str
	ts: float
	event_id: str
	content: str | None = None
	amount: float | None = None
	metadata: dict | None = None


def party_id(value: Any, field: str) -> str:
	"""A fan or creator id: 1-140 visible ASCII characters."""
	try:
		value = validation.identifier(value, field)
	except ValidationError as e:
		raise MemoryValidationError(e.field, e.message) from None
	if not (value.isascii() and value.isprintable()) or " " in value:
		raise MemoryValidationError(field, "may only contain visible ASCII characters (no spaces)")
	return value


def pair(fan_id: Any, creator_id: Any) -> tuple[str, str]:
	return party_id(fan_id, "fan_id"), party_id(creator_id, "creator_id")


def pair_key(fan_id: str, creator_id: str) -> tuple[str, str]:
	"""The pair as MariaDB compares it: ids folded to lower case."""
	return fan_id.lower(), creator_id.lower()


def fan_ids(values: Any) -> tuple[list[str], dict[str, MemoryValidationError]]:
	"""The fan ids of a bulk read, duplicates dropped and order kept, and the refusal of each id that is
	not valid (by the id as text), so one bad id does not fail the others."""
	if not isinstance(values, list | tuple):
		raise MemoryValidationError("fan_ids", "must be a list of fan ids")
	if len(values) > MAX_BULK_FANS:
		raise MemoryValidationError("fan_ids", f"must hold at most {MAX_BULK_FANS} ids")
	valid, refused = {}, {}
	for value in values:
		try:
			valid[party_id(value, "fan_ids")] = None
		except MemoryValidationError as e:
			refused[str(value)] = e
	return list(valid), refused


def timestamp(value: Any, now: float) -> float:
	"""Unix time of a datetime (naive = system zone), an ISO 8601 string or a Unix time; never
	more than MAX_CLOCK_SKEW in the future."""
	if value is None:
		return now
	ts = None
	if isinstance(value, datetime):
		ts = runtime.to_ts(value)
	elif isinstance(value, int | float) and not isinstance(value, bool):
		ts = unix_seconds(float(value))
	elif isinstance(value, str):
		try:
			ts = unix_seconds(float(value))
		except ValueError:
			try:
				ts = runtime.to_ts(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
			except ValueError:
				raise MemoryValidationError("timestamp", "must be an ISO 8601 date-time") from None
	if ts is None or not math.isfinite(ts):
		raise MemoryValidationError("timestamp", "must be a date-time or a Unix time")
	if ts > now + MAX_CLOCK_SKEW:
		raise MemoryValidationError("timestamp", "must not be in the future")
	if ts < now - MAX_AGE:
		raise MemoryValidationError("timestamp", "must be within the last 20 years")
	return ts


def unix_seconds(value: float) -> float:
	"""A Unix time in seconds, from seconds or (as JavaScript counts) milliseconds."""
	return value / 1000 if abs(value) > MILLISECONDS_ABOVE else value


def _content(value: Any, interaction_type: str) -> str | None:
	if interaction_type != "message":
		if value not in (None, ""):
			raise MemoryValidationError("content", "only messages carry content")
		return None
	if not isinstance(value, str) or not value.strip():
		raise MemoryValidationError("content", "is required for a message")
	if len(value) > MAX_CONTENT_LENGTH:
		raise MemoryValidationError("content", f"must be at most {MAX_CONTENT_LENGTH} characters")
	if "\x00" in value:
		raise MemoryValidationError("content", "must not contain NUL characters")
	try:
		value.encode()
	except UnicodeEncodeError:
		raise MemoryValidationError("content", "must be valid Unicode text") from None
	return value


def _amount(value: Any, interaction_type: str) -> float | None:
	if interaction_type not in MONETARY_TYPES:
		# A client may send the TypeScript service's `amount: 0` on any event: that is no amount.
		if value not in (None, "", 0):
			raise MemoryValidationError("amount", "only purchases and tips carry an amount")
		return None
	if value is None:
		raise MemoryValidationError("amount", "is required for a purchase or tip")
	try:
		amount = validation.number(value, "amount", minimum=0, exclusive_minimum=True)
	except ValidationError as e:
		raise MemoryValidationError(e.field, e.message) from None
	if amount > MAX_AMOUNT:
		raise MemoryValidationError("amount", f"must be at most {MAX_AMOUNT:,.0f}")
	return amount


def _metadata(value: Any) -> dict | None:
	if value is None:
		return None
	if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
		raise MemoryValidationError("metadata", "must be an object with string keys")
	try:
		encoded = json.dumps(value, allow_nan=False)
	except (TypeError, ValueError):
		raise MemoryValidationError("metadata", "must be JSON-serialisable (no NaN or Infinity)") from None
	if len(encoded.encode()) > MAX_METADATA_BYTES:
		raise MemoryValidationError("metadata", f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
	return json.loads(encoded)


def parse(event: Any, now: float) -> Interaction:
	"""A checked interaction; an event without an event_id gets one, so retries of this save are
	recognised as the same event. The TypeScript service's field names (fanId, creatorId) are taken
	too."""
	if not isinstance(event, Mapping):
		raise MemoryValidationError("event", "must be an object")
	event = {CAMEL_CASE_FIELDS.get(name, name): value for name, value in event.items()}
	unknown = sorted(set(event) - FIELDS)
	if unknown:
		raise MemoryValidationError(unknown[0], "is not a field of an interaction")
	fan_id, creator_id = pair(event.get("fan_id"), event.get("creator_id"))
	interaction_type = event.get("type")
	if interaction_type not in INTERACTION_TYPES:
		raise MemoryValidationError("type", f"must be one of {', '.join(INTERACTION_TYPES)}")
	event_id = event.get("event_id")
	return Interaction(
		fan_id=fan_id,
		creator_id=creator_id,
		type=interaction_type,
		ts=timestamp(event.get("timestamp"), now),
		event_id=uuid.uuid4().hex if event_id in (None, "") else party_id(event_id, "event_id"),
		content=_content(event.get("content"), interaction_type),
		amount=_amount(event.get("amount"), interaction_type),
		metadata=_metadata(event.get("metadata")),
	)
