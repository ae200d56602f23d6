"""The one clock the services read, and the time zone naive datetimes are stored in."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from memora.runtime.site import in_site


def system_timezone() -> ZoneInfo:
	"""The zone naive datetimes are stored in: the site's System Settings zone, or MEMORA_TIME_ZONE."""
	if in_site():
		from frappe.utils import get_system_timezone

		return ZoneInfo(get_system_timezone())
	return ZoneInfo(os.environ.get("MEMORA_TIME_ZONE", "UTC"))


def now_ts() -> float:
	"""Unix time. The one clock the services read, so tests and benchmarks agree with Redis scores."""
	return time.time()


def now() -> datetime:
	"""Naive datetime in the system zone, the way Frappe stores Datetime fields."""
	return from_ts(now_ts())


def to_ts(value: datetime) -> float:
	"""Unix time of a datetime: naive values are in the system zone, aware ones carry their own."""
	if value.tzinfo is None:
		value = value.replace(tzinfo=system_timezone())
	return value.timestamp()


def from_ts(ts: float) -> datetime:
	"""Naive system-zone datetime for a Unix time (what goes into a Datetime column)."""
	return datetime.fromtimestamp(ts, tz=timezone.utc).astimezone(system_timezone()).replace(tzinfo=None)
