"""Season partitions of the tracker table on real MariaDB: placement, pruning, hostile names, migrate."""

import json
import re
import threading

import pytest

from memora import app_ddl, install, schema
from memora.exceptions import NotAllowed, ValidationError
from memora.services.srs import partitions as pm

TABLE = "`tabPlayer Memory Tracker`"
SEASONS = ("Spring 2025", "Summer 2025", "Autumn 2025")

pytestmark = pytest.mark.usefixtures("default_partition_only")


def add_trackers(db, season: str, count: int, players: int = 3, first: int = 1) -> None:
	db.sql(
		f"""insert into {TABLE} (name, player, season, question_id, next_review_date, modified)
		select left(md5(concat(%s, '/', seq)), 12), concat('p', seq mod %s, '@x.com'), %s,
			concat('q', seq), now() - interval seq minute, now()
		from seq_{int(first)}_to_{int(first + count - 1)}""",
		(season, players, season),
	)
	db.commit()


def rows_by_season(db, season: str) -> int:
	return db.sql(f"select count(*) from {TABLE} where season = %s", (season,))[0][0]


def rows_in(db, partition: str) -> int:
	return db.sql(f"select count(*) from {TABLE} partition (`{partition}`)")[0][0]


def check_table(db) -> list[str]:
	return [row[3] for row in db.sql(f"check table {TABLE}")]


def assert_every_row_in_place(db, expected: dict[str, int]) -> None:
	"""Each season's rows are found by a (pruned) query on that season, and CHECK TABLE is clean."""
	assert {season: rows_by_season(db, season) for season in expected} == expected
	assert check_table(db) == ["OK"]
	for season in expected:
		if pm.has_partition(season):
			assert pm.misplaced_rows(season) == 0


def test_partition_ids_are_deterministic_and_distinct():
	names = [f"Season {i}" for i in range(2000)] + ["a.b", "a-b", "a_b", "ab", "a b", "A B."]
	ids = [pm.partition_id(n) for n in names]
	assert len(set(ids)) == len(names)
	assert all(re.fullmatch(r"p_[0-9a-f]{24}", i) for i in ids)
	assert pm.partition_id("Season 7") == pm.partition_id("Season 7")
	# The same partition in MariaDB's case-insensitive collation, so the same id.
	assert pm.partition_id("SEASON 7") == pm.partition_id("season 7")


HOSTILE = [
	"x'; drop table `tabPlayer Memory Tracker`; --",
	"S1') , partition p_evil values in ('S2",
	"a`b",
	'a"b',
	"S1;",
	"S1 /* comment */",
	"S1#",
	"S1\\",
	"S1\n",
	" S1",
	"S1 ",
	"\u0405eason",  # Cyrillic capital DZE, looks like S
	"Season\u00a0A",  # no-break space
	"\uff33eason",  # fullwidth S
	"S" * 200,
	"",
	None,
	42,
]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(h)[:30] for h in HOSTILE])
def test_hostile_season_names_never_reach_ddl(db, name):
	before = pm.partitions()
	for call in (pm.partition_id, pm.quote_value, pm.create_partition, pm.drop_partition):
		with pytest.raises(ValidationError) as raised:
			call(name)
		assert raised.value.field == "season"
	assert pm.partitions() == before
	assert schema.table_name("Player Memory Tracker") in {row[0] for row in db.sql("show tables")}


@pytest.mark.parametrize("name", ["S1 -- comment", "drop table tabUser", "x.y_z-1 --", "1 - - 1"])
def test_valid_names_that_look_like_sql_stay_inside_their_literal(db, name):
	tables = db.sql("show tables")
	add_trackers(db, name, 3)
	assert pm.quote_value(name) == f"'{name}'"
	pm.create_partition(name)
	assert pm.partitions() == {pm.DEFAULT_PARTITION: "MAXVALUE", pm.partition_id(name): f"'{name}'"}
	assert db.sql("show tables") == tables
	assert_every_row_in_place(db, {name: 3})
	assert pm.drop_partition(name, force=True)["rows"] == 3


def test_default_partition_catches_seasons_without_a_partition(db):
	add_trackers(db, "Unknown Season", 10)
	assert rows_in(db, pm.DEFAULT_PARTITION) == 10
	assert_every_row_in_place(db, {"Unknown Season": 10})


def test_create_moves_the_seasons_rows_out_of_default(db):
	for season in SEASONS:
		add_trackers(db, season, 40)
	add_trackers(db, "spring 2025", 5, first=100)  # same season in the column's collation
	expected = {"Spring 2025": 45, "Summer 2025": 40, "Autumn 2025": 40}

	result = pm.create_partition("Spring 2025")
	assert result == {
		"season": "Spring 2025",
		"partition": pm.partition_id("Spring 2025"),
		"created": True,
		"moved_rows": 45,
	}
	assert rows_in(db, pm.DEFAULT_PARTITION) == 80
	assert_every_row_in_place(db, expected)

	for season in SEASONS[1:]:
		assert pm.create_partition(season)["moved_rows"] == 40
		assert_every_row_in_place(db, expected)
	assert rows_in(db, pm.DEFAULT_PARTITION) == 0

	again = pm.create_partition("SPRING 2025")
	assert (again["created"], again["partition"]) == (False, pm.partition_id("Spring 2025"))
	assert_every_row_in_place(db, expected)


def test_rows_written_after_creation_land_in_the_seasons_partition(db):
	pm.create_partition("Spring 2025")
	add_trackers(db, "Spring 2025", 7)
	add_trackers(db, "Summer 2025", 3)
	assert rows_in(db, pm.partition_id("Spring 2025")) == 7
	assert rows_in(db, pm.DEFAULT_PARTITION) == 3


def test_concurrent_creates_of_one_partition_both_succeed(db):
	add_trackers(db, "Spring 2025", 20)
	results, errors = [], []

	def create():
		try:
			results.append(pm.create_partition("Spring 2025"))
		except Exception as e:
			errors.append(e)
		finally:
			pm.runtime.db().close()

	threads = [threading.Thread(target=create) for _ in range(2)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join()
	assert errors == []
	assert sorted(r["created"] for r in results) == [False, True]
	assert_every_row_in_place(db, {"Spring 2025": 20})


def explain_partitions(db, season: str) -> str:
	rows = db.sql(
		f"""explain partitions select question_id from {TABLE}
		where player = %s and season = %s and next_review_date <= now() order by next_review_date limit 20""",
		("p1@x.com", season),
		as_dict=True,
	)
	return rows[0]["partitions"]


def test_queries_on_one_season_prune_to_its_partition(db):
	for season in SEASONS:
		add_trackers(db, season, 30)
		pm.create_partition(season)
	for season in SEASONS:
		assert explain_partitions(db, season) == pm.partition_id(season)
	assert explain_partitions(db, "Winter 2026") == pm.DEFAULT_PARTITION


def test_drop_is_refused_while_the_partition_holds_rows(db):
	add_trackers(db, "Spring 2025", 12)
	add_trackers(db, "Summer 2025", 8)
	pm.create_partition("Spring 2025")
	with pytest.raises(NotAllowed, match="12 rows"):
		pm.drop_partition("Spring 2025")
	assert pm.has_partition("Spring 2025")
	assert_every_row_in_place(db, {"Spring 2025": 12, "Summer 2025": 8})

	result = pm.drop_partition("Spring 2025", force=True)
	assert (result["dropped"], result["rows"]) == (True, 12)
	audit = db.sql(
		"select season, row_count, details from `tabSRS Audit Log` where operation = 'drop_partition'"
	)
	assert [(a[0], a[1], json.loads(a[2])["forced"]) for a in audit] == [("Spring 2025", 12, True)]
	assert_every_row_in_place(db, {"Spring 2025": 0, "Summer 2025": 8})


def test_drop_of_an_empty_partition_sends_later_rows_to_default(db):
	pm.create_partition("Spring 2025")
	assert pm.drop_partition("Spring 2025") == {
		"season": "Spring 2025",
		"partition": pm.partition_id("Spring 2025"),
		"dropped": True,
		"rows": 0,
	}
	assert pm.drop_partition("Spring 2025")["dropped"] is False
	add_trackers(db, "Spring 2025", 4)
	assert rows_in(db, pm.DEFAULT_PARTITION) == 4
	assert_every_row_in_place(db, {"Spring 2025": 4})


def test_list_partitions_reports_values_rows_and_bytes(db):
	add_trackers(db, "Spring 2025", 25)
	add_trackers(db, "Summer 2025", 5)
	pm.create_partition("Spring 2025")
	db.sql(f"analyze table {TABLE}")
	listed = {p["partition"]: p for p in pm.list_partitions("Player Memory Tracker")}
	assert set(listed) == {pm.DEFAULT_PARTITION, pm.partition_id("Spring 2025")}
	spring = listed[pm.partition_id("Spring 2025")]
	assert (spring["season"], spring["values"], spring["is_default"]) == (
		"Spring 2025",
		"'Spring 2025'",
		False,
	)
	assert (spring["rows"], listed[pm.DEFAULT_PARTITION]["rows"]) == (25, 5)
	assert listed[pm.DEFAULT_PARTITION]["season"] is None
	assert all(p["data_bytes"] > 0 and p["index_bytes"] > 0 for p in listed.values())


def test_list_partitions_of_other_tables(db):
	assert pm.list_partitions("Fan Memory") == []
	with pytest.raises(ValidationError):
		pm.list_partitions("User")


def test_migrate_twice_and_a_new_field_keep_the_scheme(db):
	for season in SEASONS:
		add_trackers(db, season, 20)
	pm.create_partition("Spring 2025")
	pm.create_partition("Summer 2025")
	layout = pm.partitions()
	expected = dict.fromkeys(SEASONS, 20)

	install.shape_tables()
	install.shape_tables()
	assert pm.partitions() == layout
	assert_every_row_in_place(db, expected)

	# What `bench migrate` runs when a field is added to the DocType, followed by after_migrate.
	db.sql_ddl(f"alter table {TABLE} add column `extra_note` varchar(140)")
	try:
		install.shape_tables()
		assert pm.partitions() == layout
		assert pm.primary_key() == ("name", "season")
		assert app_ddl.index_columns("Player Memory Tracker")["player_season_question"] == (
			"player",
			"season",
			"question_id",
		)
		assert_every_row_in_place(db, expected)
	finally:
		db.sql_ddl(f"alter table {TABLE} drop column `extra_note`")


def test_ensure_restores_a_missing_default_partition(db):
	spring = pm.partition_id("Spring 2025")
	db.sql_ddl(
		f"alter table {TABLE} partition by list columns (season) (partition `{spring}` values in ('Spring 2025'))"
	)
	pm.ensure_partitioned_table()
	assert set(pm.partitions()) == {spring, pm.DEFAULT_PARTITION}
	add_trackers(db, "Summer 2025", 3)
	assert rows_in(db, pm.DEFAULT_PARTITION) == 3


def test_misplaced_rows_are_found_and_repaired(db):
	"""`ADD PARTITION` beside DEFAULT leaves the season's rows behind, invisible to a query on the season:
	the trap create_partition avoids. repair_partition puts them back."""
	add_trackers(db, "Spring 2025", 15)
	add_trackers(db, "Summer 2025", 6)
	db.sql_ddl(
		f"alter table {TABLE} add partition "
		f"(partition `{pm.partition_id('Spring 2025')}` values in ('Spring 2025'))"
	)
	assert rows_by_season(db, "Spring 2025") == 0
	assert pm.misplaced_rows("Spring 2025") == 15

	assert pm.repair_partition("Spring 2025") == 15
	assert_every_row_in_place(db, {"Spring 2025": 15, "Summer 2025": 6})
	assert pm.repair_partition("Spring 2025") == 0


def test_repair_needs_a_partition():
	with pytest.raises(NotAllowed):
		pm.repair_partition("Spring 2025")


# --- the review log: partitioned with the trackers ----------------------------------------------

LOG = "`tabMemora Review Log`"
LOG_DOCTYPE = "Memora Review Log"


def add_log_rows(db, season: str, count: int) -> None:
	db.sql(
		f"""insert into {LOG} (name, player, season, question_id, reviewed_at, modified)
		select concat('r-', %s, '-', seq), concat('p', seq mod 3, '@x.com'), %s, concat('q', seq),
			now() - interval seq minute, now()
		from seq_1_to_{int(count)}""",
		(season, season),
	)
	db.commit()


def log_rows_by_season(db, season: str) -> int:
	return db.sql(f"select count(*) from {LOG} where season = %s", (season,))[0][0]


def test_the_review_log_is_partitioned_like_the_trackers(db):
	assert pm.partition_method(LOG_DOCTYPE) == "LIST COLUMNS"
	assert pm.primary_key(LOG_DOCTYPE) == ("name", "season")
	assert app_ddl.index_columns(LOG_DOCTYPE)["player_season_question_reviewed"] == (
		"player",
		"season",
		"question_id",
		"reviewed_at",
	)
	add_log_rows(db, "Spring 2025", 4)
	assert pm.partition_rows(pm.DEFAULT_PARTITION, LOG_DOCTYPE) == 4


def test_create_and_drop_act_on_both_tables(db):
	add_trackers(db, "Spring 2025", 10)
	add_log_rows(db, "Spring 2025", 25)
	add_log_rows(db, "Summer 2025", 5)
	result = pm.create_partition("Spring 2025")
	assert (result["created"], result["moved_rows"]) == (True, 35)
	assert pm.partitions(LOG_DOCTYPE) == pm.partitions()
	assert pm.partition_rows(pm.partition_id("Spring 2025"), LOG_DOCTYPE) == 25
	assert pm.partition_rows(pm.DEFAULT_PARTITION, LOG_DOCTYPE) == 5
	assert (log_rows_by_season(db, "Spring 2025"), pm.misplaced_rows("Spring 2025")) == (25, 0)
	assert [row[3] for row in db.sql(f"check table {LOG}")] == ["OK"]
	audit = db.sql("select row_count, details from `tabSRS Audit Log` where operation = 'create_partition'")
	assert [(a[0], json.loads(a[1])["tables"]) for a in audit] == [
		(35, {"Player Memory Tracker": 10, LOG_DOCTYPE: 25})
	]
	assert pm.create_partition("Spring 2025")["created"] is False

	db.sql(f"delete from {TABLE} where season = 'Spring 2025'")
	db.commit()
	with pytest.raises(NotAllowed, match=f"25 rows \\({LOG_DOCTYPE}: 25\\)"):
		pm.drop_partition("Spring 2025")
	assert pm.drop_partition("Spring 2025", force=True) == {
		"season": "Spring 2025",
		"partition": pm.partition_id("Spring 2025"),
		"dropped": True,
		"rows": 25,
	}
	assert pm.partitions(LOG_DOCTYPE) == pm.partitions() == {pm.DEFAULT_PARTITION: "MAXVALUE"}


def test_a_hostile_or_sql_like_name_reaches_neither_table(db):
	name = "S1 -- comment"
	add_log_rows(db, name, 3)
	pm.create_partition(name)
	assert pm.partitions(LOG_DOCTYPE) == {
		pm.DEFAULT_PARTITION: "MAXVALUE",
		pm.partition_id(name): f"'{name}'",
	}
	assert log_rows_by_season(db, name) == 3
	with pytest.raises(ValidationError):
		pm.create_partition("x'; drop table `tabMemora Review Log`; --")
	assert pm.drop_partition(name, force=True)["rows"] == 3


def test_migrate_gives_the_new_review_log_the_seasons_partitions(db):
	"""An upgraded site: the tracker table has season partitions, the review log is new (Frappe made it
	plain). after_migrate partitions it and gives it the same seasons, and its rows land in them."""
	add_trackers(db, "Spring 2025", 6)
	pm.create_partition("Spring 2025")
	pm.create_partition("Summer 2025")
	db.sql_ddl(f"alter table {LOG} remove partitioning")
	db.sql_ddl(f"alter table {LOG} drop primary key, add primary key (`name`)")
	assert pm.partition_method(LOG_DOCTYPE) is None

	install.shape_tables()
	assert pm.primary_key(LOG_DOCTYPE) == ("name", "season")
	assert pm.partitions(LOG_DOCTYPE) == pm.partitions()
	add_log_rows(db, "Summer 2025", 4)
	assert pm.partition_rows(pm.partition_id("Summer 2025"), LOG_DOCTYPE) == 4
	layout = pm.partitions(LOG_DOCTYPE)
	install.shape_tables()
	assert pm.partitions(LOG_DOCTYPE) == layout


def test_list_and_repair_cover_the_review_log(db):
	add_log_rows(db, "Spring 2025", 9)
	db.sql_ddl(
		f"alter table {LOG} add partition "
		f"(partition `{pm.partition_id('Spring 2025')}` values in ('Spring 2025'))"
	)
	assert pm.misplaced_rows("Spring 2025") == 9
	assert pm.repair_partition("Spring 2025") == 9
	assert log_rows_by_season(db, "Spring 2025") == 9
	db.sql(f"analyze table {LOG}")
	listed = {p["partition"]: p for p in pm.list_partitions(LOG_DOCTYPE)}
	assert listed[pm.partition_id("Spring 2025")]["rows"] == 9
