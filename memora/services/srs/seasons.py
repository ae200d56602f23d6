"""Seasons as the SRS engine sees them: which exist, which are active, which still take reviews.

One policy for every caller: names are validated (they reach DDL), looked up as MariaDB spells them
(keys are case-sensitive, names are not), and "the active season" is the most recently changed of
the seasons marked active.
"""

from __future__ import annotations

from memora import runtime
from memora.exceptions import NotAllowed, NotFound, ValidationError
from memora.services import validation
from memora.services.tables import SEASONS

# An archived season, or one being archived, takes no more reviews.
CLOSED_ARCHIVE_STATUSES = ("In Progress", "Archived")


def existing_season(season: str) -> str:
	"""A valid season name that exists, as MariaDB spells it."""
	season = validation.season_name(season)
	rows = runtime.db().sql(f"select name from {SEASONS} where name = %s", (season,))
	if not rows:
		raise NotFound("season", f"{season!r} does not exist")
	return rows[0][0]


def active_season() -> str | None:
	"""The active season, or None when no season is active."""
	rows = runtime.db().sql(f"select name from {SEASONS} where is_active = 1 order by modified desc limit 1")
	return rows[0][0] if rows else None


def require_active_season() -> str:
	"""The active season, for a caller that named none; ValidationError when no season is active."""
	season = active_season()
	if season is None:
		raise ValidationError("season", "is required: no Memora Season is active")
	return season


def active_seasons() -> list[str]:
	"""Every season marked active, by name."""
	return [
		row[0] for row in runtime.db().sql(f"select name from {SEASONS} where is_active = 1 order by name")
	]


def require_open_season(season: str) -> None:
	"""The season exists and its trackers have not been archived."""
	rows = runtime.db().sql(f"select archive_status from {SEASONS} where name = %s", (season,))
	if not rows:
		raise NotFound("season", f"{season!r} does not exist")
	if rows[0][0] in CLOSED_ARCHIVE_STATUSES:
		raise NotAllowed(f"Season {season} is archived: its cards can no longer be reviewed.")
