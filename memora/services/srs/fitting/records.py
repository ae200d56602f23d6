"""What a season keeps of its fits: every fit in `parameter_fits` (a JSON list, newest last), and the
adopted parameters in `fsrs_parameters`, `parameters_version` and `parameters_adopted_on`, which the
scheduler reads (`scheduler.season_parameters`)."""

from __future__ import annotations

import json

from memora import runtime
from memora.services.srs import scheduler
from memora.services.srs.fitting import parameters
from memora.services.tables import SEASONS


def adopted(season: str) -> tuple[tuple[float, ...] | None, str]:
	"""The season's adopted parameters (None: the defaults) and their version, read now, not cached."""
	rows = runtime.db().sql(
		f"select fsrs_parameters, parameters_version from {SEASONS} where name = %s", (season,)
	)
	weights = parameters.parse(rows[0][0]) if rows else None
	if weights is None:
		return None, scheduler.DEFAULT_PARAMETERS
	return weights, rows[0][1] or scheduler.DEFAULT_PARAMETERS


def fits(season: str) -> list[dict]:
	"""Every fit kept on the season, oldest first."""
	rows = runtime.db().sql(f"select parameter_fits from {SEASONS} where name = %s", (season,))
	return json.loads(rows[0][0]) if rows and rows[0][0] else []


def store(season: str, record: dict) -> None:
	"""Keep the fit on the season and, when it was adopted, make its parameters the season's; then
	commit, and this process schedules with them from its next answer on (others within
	SEASON_PARAMETERS_TTL). The season row is locked while its list grows, so two fits at once both land."""
	database = runtime.db()
	rows = database.sql(f"select parameter_fits from {SEASONS} where name = %s for update", (season,))
	kept = [*json.loads(rows[0][0] or "[]"), record] if rows else [record]
	now = runtime.now()
	if record["adopted"]:
		database.sql(
			f"""update {SEASONS} set parameter_fits = %s, fsrs_parameters = %s, parameters_version = %s,
			parameters_adopted_on = %s, modified = %s where name = %s""",
			(
				json.dumps(kept),
				json.dumps(record["parameters"]),
				record["parameters_version"],
				now,
				now,
				season,
			),
		)
	else:
		database.sql(
			f"update {SEASONS} set parameter_fits = %s, modified = %s where name = %s",
			(json.dumps(kept), now, season),
		)
	database.commit()
	scheduler.forget_season_parameters()
