"""Reads of `tabPlayer Memory Tracker` for the SRS engine: safe-mode due queries, the schedule that
rehydrates a sorted set, card states for the scheduler, and keyset pages for a season rebuild.

Reviews are written by `persistence`; cards a caller schedules or retires without a review are written
here (`schedule`, `retire`). Every query filters on the season, so MariaDB prunes to the
season's partition; the per-player ones seek an index on its leading (player, season) columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from itertools import groupby
from operator import attrgetter
from typing import NamedTuple

from memora import runtime
from memora.services.srs.card import STATE_COLUMNS, tracker_name
from memora.services.tables import TRACKERS

# A tracker without a next review date (made in Desk, say) is due now: it sorts first in MariaDB's
# index (NULL before any date) and gets score 0 in Redis, so both paths agree on the order.
UNSCHEDULED_TS = 0.0

# Card states come back as one JSON object per row: PyMySQL describes every column of a result and
# converts DATETIME and DECIMAL values in pure Python, which was most of the time of this read.
CARD_JSON = "json_object(" + ", ".join(f"'{column}', {column}" for column in STATE_COLUMNS) + ")"


class SeasonRow(NamedTuple):
	player: str
	next_review_date: datetime | None
	question_id: str
	score: float


# A rebuild reads each tracker as one text column, "player␟date␟question id" (the date as ISO text, or
# empty), parsed with `str.split` and the C `datetime.fromisoformat`: PyMySQL decodes each column and
# converts DATETIME in pure Python, which was the largest cost of a season rebuild. The separator is
# the ASCII unit separator, which no player (a User's email) contains; the question id comes last, so
# it may hold anything. (`%%`: the query is %-formatted with its values.)
SEASON_FIELD_SEPARATOR = "\x1f"
SEASON_COLUMNS = (
	"concat_ws(char(31 using utf8mb4), player, "
	"ifnull(date_format(next_review_date, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), ''), question_id)"
)


def fresh_snapshot() -> None:
	"""End the current transaction (read-only so far) so the next read sees every committed review.

	Under REPEATABLE READ a transaction keeps reading the snapshot of its first read; a review
	persisted after that (and cleared from the pending hash) would be invisible, and the scheduler
	would compute from an older card.
	"""
	runtime.db().commit()


def score(next_review_date: datetime | None) -> float:
	"""The sorted-set score for a tracker's next review date."""
	return runtime.to_ts(next_review_date) if next_review_date else UNSCHEDULED_TS


def local_ts(value: datetime, zone: tzinfo) -> float:
	"""`runtime.to_ts` of a naive system-zone datetime, with the zone looked up once per result set
	by the caller rather than once per row."""
	return runtime.to_ts(value.replace(tzinfo=zone))


def text_ts(value: str | None, zone: tzinfo, null: float | None = None) -> float | None:
	"""Unix time of a DATETIME that MariaDB returned as text (inside JSON, say); `null` for NULL."""
	return local_ts(datetime.fromisoformat(value), zone) if value else null


def due_sql(count: bool = False) -> str:
	"""The safe-mode query. Answered from the covering index player_season_due alone."""
	select = "count(*)" if count else "question_id"
	tail = "" if count else " order by next_review_date, question_id limit %s"
	return (
		f"select {select} from {TRACKERS} where player = %s and season = %s "
		f"and (next_review_date is null or next_review_date <= %s){tail}"
	)


def due_question_ids(user: str, season: str, now_ts: float, limit: int) -> list[str]:
	"""Due cards, earliest first, ties by question id: what ZRANGEBYSCORE returns on a warm cache."""
	rows = runtime.db().sql(due_sql(), (user, season, runtime.from_ts(now_ts), limit))
	return [row[0] for row in rows]


def due_count(user: str, season: str, now_ts: float) -> int:
	return runtime.db().sql(due_sql(count=True), (user, season, runtime.from_ts(now_ts)))[0][0]


def total_count(user: str, season: str) -> int:
	return runtime.db().sql(
		f"select count(*) from {TRACKERS} where player = %s and season = %s", (user, season)
	)[0][0]


def schedule(user: str, season: str) -> dict[str, float]:
	"""Question id -> next review time for every card of the player in the season (index only)."""
	rows = runtime.db().sql(
		f"select question_id, next_review_date from {TRACKERS} where player = %s and season = %s",
		(user, season),
	)
	return {qid: score(next_review) for qid, next_review in rows}


class Row(NamedTuple):
	"""A card as a queue sync needs it: its score, and which review it last took (µs, review id), so a
	pending state older than the row can be told from a newer one."""

	score: float
	reviewed_us: int | None
	review_id: str | None


def player_rows(season: str, players: list[str]) -> dict[str, dict[str, Row]]:
	"""Every card of these players in the season, by player and question id (players without cards are
	absent). One query on the (player, season, question_id) key."""
	if not players:
		return {}
	placeholders = ", ".join(["%s"] * len(players))
	rows = runtime.db().sql(
		f"select player, question_id, next_review_date, last_review_date, last_review_id from {TRACKERS} "
		f"where season = %s and player in ({placeholders})",
		(season, *players),
	)
	zone = runtime.system_timezone()
	found: dict[str, dict[str, Row]] = {}
	for player, question_id, *row in rows:
		found.setdefault(player, {})[question_id] = sync_row(*row, zone)
	return found


def of_cards(columns: str, user: str, season: str, question_ids: list[str]) -> tuple:
	"""`columns` of these cards of one player (a lookup on the (player, season, question_id) key)."""
	placeholders = ", ".join(["%s"] * len(question_ids))
	return runtime.db().sql(
		f"select {columns} from {TRACKERS} where player = %s and season = %s and question_id in ({placeholders})",
		(user, season, *question_ids),
	)


def card_rows(season: str, user: str, question_ids: list[str]) -> dict[str, Row]:
	"""These cards of one player, by question id (cards without a row are absent)."""
	columns = "question_id, next_review_date, last_review_date, last_review_id"
	rows = of_cards(columns, user, season, question_ids)
	zone = runtime.system_timezone()
	return {question_id: sync_row(*row, zone) for question_id, *row in rows}


def sync_row(
	next_review: datetime | None, reviewed: datetime | None, review_id: str | None, zone: tzinfo
) -> Row:
	reviewed_us = round(local_ts(reviewed, zone) * 1_000_000) if reviewed else None
	return Row(local_ts(next_review, zone) if next_review else UNSCHEDULED_TS, reviewed_us, review_id)


def filtered_schedule(user: str, season: str, subject: str | None, topic: str | None) -> dict[str, float]:
	"""Like `schedule`, for the cards of one subject and/or topic."""
	conditions, values = ["player = %s", "season = %s"], [user, season]
	for column, value in (("subject", subject), ("topic", topic)):
		if value is not None:
			conditions.append(f"{column} = %s")
			values.append(value)
	rows = runtime.db().sql(
		f"select question_id, next_review_date from {TRACKERS} where {' and '.join(conditions)}", values
	)
	return {qid: score(next_review) for qid, next_review in rows}


def card_states(user: str, season: str, question_ids: list[str]) -> dict[str, dict]:
	"""The stored card state of each question that has a tracker, in the pending-review shape."""
	if not question_ids:
		return {}
	rows = of_cards(CARD_JSON, user, season, question_ids)
	zone = runtime.system_timezone()
	states = (card_state(json.loads(row), zone) for (row,) in rows)
	return {state["question_id"]: state for state in states}


def card_state(row: dict, zone: tzinfo) -> dict:
	"""A tracker row (as `CARD_JSON` gives it) as a card state dict (numbers as floats/ints, times as
	Unix timestamps)."""
	return {
		"question_id": row["question_id"],
		"review_id": row["last_review_id"],
		"reviewed_at": text_ts(row["last_review_date"], zone),
		"next_review_ts": text_ts(row["next_review_date"], zone, UNSCHEDULED_TS),
		"stability": float(row["stability"] or 0),
		"difficulty": float(row["difficulty"] or 0),
		"state": row["state"] or "New",
		"step": int(row["step"] or 0),
		"reps": int(row["reps"] or 0),
		"lapses": int(row["lapses"] or 0),
		"last_rating": int(row["last_rating"] or 0),
		"subject": row["subject"],
		"topic": row["topic"],
	}


def season_count(season: str) -> int:
	return runtime.db().sql(f"select count(*) from {TRACKERS} where season = %s", (season,))[0][0]


def season_page(season: str, after: SeasonRow | None, size: int) -> list[SeasonRow]:
	"""The next `size` trackers of a season in (player, next_review_date, question_id) order.

	Keyset pagination on the covering index player_season_due: each page seeks to the last row of
	the previous one, so the last page costs what the first does (OFFSET would re-read every row
	before it). A NULL date sorts first, so the seek after a NULL includes every dated row.
	"""
	select = f"select {SEASON_COLUMNS} from {TRACKERS} force index (player_season_due)"
	order = "order by player, next_review_date, question_id limit %s"
	if after is None:
		rows = runtime.db().sql(f"{select} where season = %s {order}", (season, size))
	elif after.next_review_date is None:
		rows = runtime.db().sql(
			f"""{select} where season = %s and (player > %s or (player = %s and (
				next_review_date is not null or (next_review_date is null and question_id > %s))))
			{order}""",
			(season, after.player, after.player, after.question_id, size),
		)
	else:
		rows = runtime.db().sql(
			f"""{select} where season = %s and (player > %s or (player = %s and (
				next_review_date > %s or (next_review_date = %s and question_id > %s))))
			{order}""",
			(
				season,
				after.player,
				after.player,
				after.next_review_date,
				after.next_review_date,
				after.question_id,
				size,
			),
		)
	return season_rows(rows)


def season_rows(rows) -> list[SeasonRow]:
	"""Rows of `SEASON_COLUMNS` as SeasonRows with their scores."""
	zone = runtime.system_timezone()
	parsed = []
	for (row,) in rows:
		player, due, question_id = row.split(SEASON_FIELD_SEPARATOR, 2)
		if due:
			date = datetime.fromisoformat(due)
			parsed.append(SeasonRow(player, date, question_id, local_ts(date, zone)))
		else:
			parsed.append(SeasonRow(player, None, question_id, UNSCHEDULED_TS))
	return parsed


PlayerSchedules = list[tuple[str, dict[str, float]]]


def season_schedules(
	season: str, batch_size: int, clock: Callable[[], int] | None = None
) -> Iterator[tuple[int | None, PlayerSchedules]]:
	"""Each player of the season with their whole schedule, a page of players at a time, in keyset
	order; a player whose cards run past a page is held back and completed by the next one.

	With a `clock`, it is read before every page, and each batch comes with the reading taken before
	the first page that any of its rows came from: a queue sync compares it with the players' stamps.
	"""
	after: SeasonRow | None = None
	carried: tuple[str, dict[str, float]] | None = None
	carried_since = since = None
	while True:
		if clock is not None:
			since = clock()
		fresh_snapshot()
		page = season_page(season, after, batch_size)
		players = [
			(player, {row.question_id: row.score for row in rows})
			for player, rows in groupby(page, key=attrgetter("player"))
		]
		first_read = since
		if carried:
			first_read = carried_since
			if players and players[0][0] == carried[0]:
				players[0] = (carried[0], {**carried[1], **players[0][1]})
			else:
				players.insert(0, carried)
		if not page:
			if players:
				yield first_read, players
			return
		carried, carried_since, after = players.pop(), first_read, page[-1]
		if players:
			yield first_read, players


# --- cards scheduled or retired by a caller ---------------------------------------------------------
# Cards scheduled or retired by a caller rather than by a review: the service API's `add_item`,
# `add_batch` and `remove_item` write the tracker rows here, so MariaDB, and therefore every rebuild,
# rehydration and reconciliation, agrees with what the caller did.
# Scheduling creates the card's row (state New) or moves its next review date; the card's memory state
# is kept. Retiring deletes the row: a tracker is the card's whole schedule, and Desk's delete does the
# same. A review of the card accepted before the removal and not yet persisted still lands (its write
# creates the row again), as it would after a Desk delete: the queue shows it meanwhile, by the rule that
# pending reviews are laid over the rows.


def schedule_cards(user: str, season: str, scores: dict[str, float]) -> None:
	"""Create or move each card's tracker (question id -> next review Unix time) and commit."""
	now = runtime.now()
	rows = [
		(tracker_name(user, season, qid), now, now, user, user, user, season, qid, runtime.from_ts(ts))
		for qid, ts in sorted(scores.items())
	]
	database = runtime.db()
	try:
		database.sql(
			f"insert into {TRACKERS} (name, creation, modified, owner, modified_by, player, season, question_id, "
			"next_review_date, state) values "
			+ ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'New')"] * len(rows))
			+ " on duplicate key update next_review_date = values(next_review_date), "
			"modified = values(modified), modified_by = values(modified_by)",
			[value for row in rows for value in row],
		)
		database.commit()
	except Exception:
		runtime.reset_db_after_error()
		raise


def retire_cards(user: str, season: str, question_ids: list[str]) -> None:
	"""Delete the cards' trackers and commit."""
	database = runtime.db()
	try:
		database.sql(
			f"delete from {TRACKERS} where player = %s and season = %s and question_id in "
			f"({', '.join(['%s'] * len(question_ids))})",
			(user, season, *question_ids),
		)
		database.commit()
	except Exception:
		runtime.reset_db_after_error()
		raise
