"""What one erasure removed: rows per DocType and Redis keys per key family, with the entry's name."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Receipt:
	"""Counts only, never ids: the receipt is returned to the caller and stored on the entry."""

	erasure: str
	subject: str
	rows: Counter = field(default_factory=Counter)
	keys: Counter = field(default_factory=Counter)
	redacted: Counter = field(default_factory=Counter)

	def as_dict(self) -> dict:
		"""{erasure, subject, rows: {doctype: count}, keys: {family: count}, redacted: {doctype: count}}:
		rows and keys removed, and rows of others kept with the person's id replaced by the pseudonym."""
		return {
			"erasure": self.erasure,
			"subject": self.subject,
			"rows": dict(sorted(self.rows.items())),
			"keys": dict(sorted(self.keys.items())),
			"redacted": dict(sorted(self.redacted.items())),
		}
