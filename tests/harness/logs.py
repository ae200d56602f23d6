"""Memora's structured log lines (`runtime.log`), read back from pytest's caplog."""

from __future__ import annotations

import json


def logged(caplog, event: str) -> list[dict]:
	"""The fields of every `event` line, in order, with its level name under "level" and without the
	correlation id (asserted where it matters)."""
	found = []
	for record in caplog.records:
		if record.name != "memora":
			continue
		fields = json.loads(record.getMessage())
		if fields.pop("event") == event:
			fields.pop("correlation_id")
			found.append({**fields, "level": record.levelname})
	return found
