"""The SQL names of Memora's tables, quoted for statements: services take them from here only."""

from __future__ import annotations

from memora.schema import table_name


def quoted(doctype: str) -> str:
	return f"`{table_name(doctype)}`"


TRACKERS = quoted("Player Memory Tracker")
ARCHIVED_TRACKERS = quoted("Archived Memory Tracker")
SEASONS = quoted("Memora Season")
AUDIT_LOG = quoted("SRS Audit Log")
QUEUE_RESYNC = quoted("SRS Queue Resync")
FAN_MEMORY = quoted("Fan Memory")
INTERACTIONS = quoted("Interaction")
ERASURES = quoted("Memora Erasure")
REVIEW_LOG = quoted("Memora Review Log")
