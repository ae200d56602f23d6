"""The review log: one row per accepted answer (DocType Memora Review Log), named by the answer's review
id, with the card before and after it and what scheduled it.

Persistence writes it in the transaction of the tracker upsert (`persistence.statement.log_insert_sql`),
so a review is logged exactly when it becomes durable, and a batch written again adds nothing. It is
partitioned by season like the tracker table (`partitions`), stays when its season is archived, and
goes with the season's archive at the end of retention (`retention`), or with its player
(`erasure.player`).
"""

from __future__ import annotations

from datetime import date

from memora import runtime
from memora.services import validation
from memora.services.tables import REVIEW_LOG

DOCTYPE = "Memora Review Log"
# Every column a reader gets, in the DocType's order (the standard ones left out but `name`).
COLUMNS = (
	"name",
	"player",
	"season",
	"question_id",
	"rating",
	"reviewed_at",
	"duration_ms",
	"elapsed_days",
	"state_before",
	"stability_before",
	"difficulty_before",
	"state_after",
	"stability_after",
	"difficulty_after",
	"next_review_date",
	"scheduler",
	"parameters_version",
)


def card_history(player: str, season: str, question_id: str) -> list[dict]:
	"""A card's reviews, oldest first (equal times by review id), read through the
	(player, season, question_id, reviewed_at) key in the season's partition only."""
	player = validation.identifier(player, "player")
	season = validation.season_name(season)
	question_id = validation.identifier(question_id, "question_id")
	return list(
		runtime.db().sql(
			f"""select {", ".join(f"`{c}`" for c in COLUMNS)} from {REVIEW_LOG}
			where player = %s and season = %s and question_id = %s order by reviewed_at, name""",
			(player, season, question_id),
			as_dict=True,
		)
	)


def daily_counts(season: str, since: date) -> dict[date, int]:
	"""Reviews logged in the season on each day from `since` on (system time zone), days with none left
	out: one grouped scan of the season's partition."""
	rows = runtime.db().sql(
		f"select date(reviewed_at), count(*) from {REVIEW_LOG} "
		"where season = %s and reviewed_at >= %s group by date(reviewed_at)",
		(season, since),
	)
	return {day: int(count) for day, count in rows}


def season_count(season: str) -> int:
	"""How many reviews the season's log holds."""
	return runtime.db().sql(f"select count(*) from {REVIEW_LOG} where season = %s", (season,))[0][0]
