"""Rows the SRS tests start from: seasons and tracker rows written straight to MariaDB."""

from __future__ import annotations

import secrets

from memora import runtime

SEASON = "2025-2026"


def make_season(name: str = SEASON, active: bool = True, archive_status: str = "Not Archived") -> str:
	db = runtime.db()
	db.sql(
		"insert into `tabMemora Season` (name, season_name, is_active, start_date, end_date, archive_status) "
		"values (%s, %s, %s, '2025-09-01', '2026-08-31', %s)",
		(name, name, int(active), archive_status),
	)
	db.commit()
	return name


def insert_trackers(player: str, season: str, schedule: dict[str, float | None], **card) -> None:
	"""One tracker per question id, due at the given Unix time (None: no date)."""
	db = runtime.db()
	columns = ("name", "player", "season", "question_id", "next_review_date", *card)
	rows = [
		(
			secrets.token_hex(10),
			player,
			season,
			qid,
			None if ts is None else runtime.from_ts(ts),
			*card.values(),
		)
		for qid, ts in schedule.items()
	]
	placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
	db.sql(
		f"insert into `tabPlayer Memory Tracker` ({', '.join(columns)}) values {placeholders}",
		[value for row in rows for value in row],
	)
	db.commit()


def tracker(player: str, season: str, question_id: str) -> dict | None:
	db = runtime.db()
	db.rollback()
	rows = db.sql(
		"select * from `tabPlayer Memory Tracker` where player = %s and season = %s and question_id = %s",
		(player, season, question_id),
		as_dict=True,
	)
	return rows[0] if rows else None
