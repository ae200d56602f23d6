"""Keyed lookup on the partitioned tracker vs a full scan of the same table: the composite keys pay off."""

from __future__ import annotations

import secrets

from benchmarks.harness import Context, Result, p50, sample, throwaway_database
from memora import runtime


def load_trackers(players: int, questions: int) -> None:
	db = runtime.db()
	for p in range(players):
		rows = [
			(
				secrets.token_hex(5),
				f"player{p}@example.com",
				"Bench Season",
				f"q{q}",
				f"2026-01-{1 + q % 28:02d}",
			)
			for q in range(questions)
		]
		placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
		db.sql(
			"insert into `tabPlayer Memory Tracker` (name, player, season, question_id, next_review_date) "
			f"values {placeholders}",
			[value for row in rows for value in row],
		)
	db.commit()


def run(ctx: Context) -> list[Result]:
	players = max(10, int(1000 * ctx.scale))
	with throwaway_database("schema"):
		load_trackers(players, 50)
		db = runtime.db()
		keyed = sample(
			lambda: db.sql(
				"select question_id from `tabPlayer Memory Tracker` "
				"where player=%s and season=%s order by next_review_date limit 20",
				("player7@example.com", "Bench Season"),
			),
			iterations=50 if ctx.quick else 300,
		)
		scan = sample(
			lambda: db.sql(
				"select question_id from `tabPlayer Memory Tracker` ignore index (player_season_due, "
				"player_season_question) where player=%s and season=%s order by next_review_date limit 20",
				("player7@example.com", "Bench Season"),
			),
			iterations=5 if ctx.quick else 30,
			warmup=2,
		)
	return [
		Result(
			"schema",
			f"due query p50 ({players * 50:,} rows)",
			p50(keyed),
			"ms",
			baseline=p50(scan),
			baseline_label="same query without the composite index",
			notes="sanity check of the app DDL; the SRS benchmarks measure the hot path",
		)
	]
