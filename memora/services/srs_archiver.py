"""Moving finished seasons to cold storage, and the retention policy for what is stored there.

`archive_season` can be interrupted anywhere and run again:
1. it refuses while players of the season have accepted reviews not yet persisted (their pending
   hashes in Redis), and takes a per-season advisory lock;
2. it gives the season its partition if it has none (its rows move out of DEFAULT);
3. it copies the partition to `Archived Memory Tracker` in keyset chunks, each its own transaction:
   `INSERT IGNORE` on the archive's unique key, so a re-run never duplicates a row, then a check that
   every live row of the chunk has an archived copy of the same version (copies an earlier run made of
   rows changed since are refreshed);
4. it compares the counts, then empties the partition with one `TRUNCATE PARTITION` — only if the
   partition's row count and latest `modified` are what they were before the copy (checked under a
   table lock), so a row written meanwhile is never lost;
5. it deletes the season's Redis keys player by player, from the season's player set (no SCAN), and
   records the outcome on the Memora Season and in the SRS Audit Log.

The functions at the bottom are what the scheduler, `bench execute`, the API and the CLI call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import date, datetime

from memora import runtime, schema
from memora.exceptions import NotAllowed, ValidationError
from memora.services import audit_log, partition_manager, srs_keys, srs_persistence, validation

Progress = Callable[[int, int], None]

LIVE = f"`{schema.table_name('Player Memory Tracker')}`"
ARCHIVE = f"`{schema.table_name('Archived Memory Tracker')}`"
SEASON = f"`{schema.table_name('Memora Season')}`"
STANDARD_COLUMNS = ("creation", "modified", "modified_by", "owner", "docstatus", "idx")
# The archive's name is derived from its unique key, as the live row's is, so the primary key and the
# unique key reject the same duplicates.
ARCHIVE_NAME_SQL = srs_persistence.tracker_name_sql("player", "season", "question_id")
REDIS_BATCH = 500
ARCHIVE_OPERATION = "archive_season"


def copied_columns() -> tuple[str, ...]:
	"""Columns both tables have (standard ones and the fields of both DocTypes), in the live table's order."""
	archive_fields = {f["fieldname"] for f in schema.load_doctype("Archived Memory Tracker")["fields"]}
	fields = tuple(
		f["fieldname"]
		for f in schema.load_doctype("Player Memory Tracker")["fields"]
		if schema.column_type(f["fieldtype"]) and f["fieldname"] in archive_fields
	)
	return STANDARD_COLUMNS + fields


def copy_sql(partition: str, condition: str, refresh: bool = False) -> str:
	"""Copy the rows of a live partition matching `condition` into the archive. `INSERT IGNORE` skips
	cards already archived; `refresh` overwrites them instead (slower), for copies an earlier run made
	of rows that have changed since."""
	columns = copied_columns()
	column_list = ", ".join(f"`{c}`" for c in columns)
	updates = ", ".join(f"`{c}` = values(`{c}`)" for c in columns)
	return (
		f"insert {'' if refresh else 'ignore '}into {ARCHIVE} (name, {column_list}, archived_at, "
		f"eligible_for_deletion) select {ARCHIVE_NAME_SQL}, {column_list}, %s, 0 "
		f"from {LIVE} partition (`{partition}`) where {condition}"
		+ (f" on duplicate key update {updates}" if refresh else "")
	)


def name_ranges(
	source: str, chunk: int, where: str = "1", params: tuple = ()
) -> Iterator[tuple[str, str | None]]:
	"""Consecutive `name` ranges (after, upto] of at most `chunk` matching rows, the last one open
	(upto None). Keyset pagination: each chunk is one index range, found after the previous chunk is
	done, so rows changed inside earlier ranges never shift later ones."""
	database = runtime.db()
	after = ""
	while True:
		row = database.sql(
			f"select name from {source} where {where} and name > %s order by name limit 1 offset %s",
			(*params, after, chunk - 1),
		)
		upto = row[0][0] if row else None
		yield after, upto
		if upto is None:
			return
		after = upto


def range_condition(after: str, upto: str | None, column: str = "name") -> tuple[str, tuple]:
	"""SQL for one range from `name_ranges`, with its parameters."""
	if upto is None:
		return f"{column} > %s", (after,)
	return f"{column} > %s and {column} <= %s", (after, upto)


def subtract_years(day: date, years: int) -> date:
	"""Same calendar day `years` earlier; 29 February becomes 28 February."""
	try:
		return day.replace(year=day.year - years)
	except ValueError:
		return day.replace(year=day.year - years, day=28)


def report(progress: Progress | None, title: str, done: int, total: int) -> None:
	"""Desk's realtime bar (or a log line) and the caller's callback (the CLI's bar)."""
	runtime.publish_progress(title, done, total)
	if progress:
		progress(done, total)


class SRSArchiver:
	"""Archives seasons and applies the retention policy (Memora Settings `retention_years`)."""

	# --- seasons ---------------------------------------------------------------------------------

	def season(self, season_name: str) -> dict | None:
		"""The Memora Season row (its `name` is the canonical spelling), or None."""
		validation.season_name(season_name, "season_name")
		rows = runtime.db().sql(
			f"""select name, is_active, auto_archive, end_date, archive_status, archived_on,
			archived_records, archive_error from {SEASON} where name = %s""",
			(season_name,),
			as_dict=True,
		)
		return rows[0] if rows else None

	def archive_refusal(self, season: dict | None, season_name: str) -> str | None:
		"""Why a season cannot be archived now, or None."""
		if season is None:
			return f"Season {season_name!r} does not exist"
		if season["is_active"]:
			return f"Season {season['name']!r} is active; deactivate it before archiving"
		return None

	def set_archive_fields(
		self, season: str, status: str, records: int | None = None, error: str | None = None
	) -> None:
		"""Record the archive outcome on the Memora Season (committed with any audit rows added before)."""
		now = runtime.now()
		runtime.db().sql(
			f"""update {SEASON} set archive_status = %s, archive_error = %s, modified = %s,
			archived_on = if(%s = 'Archived', %s, archived_on),
			archived_records = coalesce(%s, archived_records) where name = %s""",
			(status, error, now, status, now, records, season),
		)
		runtime.db().commit()

	# --- archiving -------------------------------------------------------------------------------

	def archive_season(self, season_name: str, progress: Progress | None = None) -> dict:
		"""Archive every tracker of an inactive season. Returns {success, archived_count, season, error};
		`archived_count` is how many live rows this run moved (0 when re-run on a finished archive)."""
		season = self.season(season_name)
		refusal = self.archive_refusal(season, season_name)
		if refusal:
			return {"success": False, "archived_count": 0, "season": season_name, "error": refusal}
		name = season["name"]
		if not self.acquire_lock(name):
			return {
				"success": False,
				"archived_count": 0,
				"season": name,
				"error": f"Season {name!r} is already being archived",
			}
		try:
			with runtime.correlation():
				return self.run_archive(name, progress)
		finally:
			self.release_lock(name)

	def run_archive(self, season: str, progress: Progress | None) -> dict:
		self.set_archive_fields(season, "In Progress")
		try:
			unpersisted = self.players_with_pending_reviews(season)
			if unpersisted:
				raise NotAllowed(
					f"{unpersisted} players of season {season!r} have accepted reviews not yet written to "
					"the database; archive again once persistence has caught up"
				)
			partition_manager.create_partition(season)
			fingerprint = partition_manager.partition_fingerprint(season)
			self.copy_partition(season, fingerprint[0], progress)
			records = self.archived_records(season)
			if records < fingerprint[0]:
				raise NotAllowed(
					f"{records} archived rows for {fingerprint[0]} live rows of season {season!r}; "
					"nothing was removed"
				)
			if not partition_manager.truncate_partition(season, fingerprint):
				raise NotAllowed(
					f"Season {season!r} received writes while it was being archived; nothing was removed, "
					"archive it again"
				)
			keys = self.clear_redis(season)
		except Exception as e:
			runtime.reset_db_after_error()
			audit_log.write([audit_log.entry(ARCHIVE_OPERATION, "Failed", season=season, error=e)])
			self.set_archive_fields(season, "Failed", error=str(e))
			runtime.log_error("Memora: archive failed", f"season {season}: {e}")
			return {"success": False, "archived_count": 0, "season": season, "error": str(e)}
		moved = fingerprint[0]
		audit_log.add(
			[
				audit_log.entry(
					ARCHIVE_OPERATION,
					"Success",
					season=season,
					row_count=moved,
					details={"archived_records": records, "redis_keys_deleted": keys},
				)
			]
		)
		self.set_archive_fields(season, "Archived", records=records)
		runtime.log("season_archived", season=season, archived_count=moved, archived_records=records)
		return {"success": True, "archived_count": moved, "season": season, "error": None}

	def copy_partition(self, season: str, total: int, progress: Progress | None) -> None:
		"""Copy the season's whole partition (all of it is about to be truncated), one committed chunk at
		a time, each checked against the archive while its pages are still in memory."""
		partition = partition_manager.partition_id(season)
		chunk = runtime.settings().archive_chunk_size
		archived_at = runtime.now()
		done = 0
		for after, upto in name_ranges(f"{LIVE} partition (`{partition}`)", chunk):
			self.copy_range(season, partition, after, upto, archived_at)
			done = total if upto is None else min(total, done + chunk)
			report(progress, f"Archiving {season}", done, total)

	def copy_range(
		self, season: str, partition: str, after: str, upto: str | None, archived_at: datetime
	) -> None:
		"""Copy one chunk and check it in the same transaction; refresh stale copies if there are any."""
		database = runtime.db()
		condition, bounds = range_condition(after, upto)
		database.sql(copy_sql(partition, condition), (archived_at, *bounds))
		if self.rows_without_copy(partition, after, upto):
			database.sql(copy_sql(partition, condition, refresh=True), (archived_at, *bounds))
			missing = self.rows_without_copy(partition, after, upto)
			if missing:
				raise NotAllowed(
					f"{missing} rows of season {season!r} have no archived copy; nothing was removed"
				)
		database.commit()

	def rows_without_copy(self, partition: str, after: str = "", upto: str | None = None) -> int:
		"""Live rows of a partition (in a range of names) whose card has no archived copy of this version
		(same `modified`, which every write of a tracker moves forward)."""
		condition, bounds = range_condition(after, upto, "live.name")
		return runtime.db().sql(
			f"""select count(*) from {LIVE} partition (`{partition}`) live
			left join {ARCHIVE} archive on archive.player = live.player and archive.season = live.season
				and archive.question_id = live.question_id
			where {condition} and (archive.name is null or not (archive.modified <=> live.modified))""",
			bounds,
		)[0][0]

	def archived_records(self, season: str) -> int:
		return runtime.db().sql(f"select count(*) from {ARCHIVE} where season = %s", (season,))[0][0]

	# --- locks and redis -------------------------------------------------------------------------

	def lock_name(self, season: str) -> str:
		"""A server-wide advisory lock per (database, season); MariaDB frees it if the process dies."""
		database = runtime.db().sql("select database()")[0][0]
		return (
			"memora-archive-" + hashlib.sha256(f"{database}\0{season.casefold()}".encode()).hexdigest()[:40]
		)

	def acquire_lock(self, season: str) -> bool:
		return bool(runtime.db().sql("select get_lock(%s, 0)", (self.lock_name(season),))[0][0])

	def release_lock(self, season: str) -> None:
		runtime.db().sql("select release_lock(%s)", (self.lock_name(season),))

	def season_players(self, season: str) -> Iterator[list[str]]:
		"""Batches of the players that have keys in the season (the set the SRS engine keeps)."""
		client = runtime.redis_client()
		batch: list[str] = []
		for player in client.sscan_iter(srs_keys.season_players_key(season), count=REDIS_BATCH):
			batch.append(player)
			if len(batch) == REDIS_BATCH:
				yield batch
				batch = []
		if batch:
			yield batch

	def players_with_pending_reviews(self, season: str) -> int:
		client = runtime.redis_client()
		count = 0
		for players in self.season_players(season):
			pipe = client.pipeline(transaction=False)
			for player in players:
				pipe.exists(srs_keys.pending_key(player, season))
			count += sum(pipe.execute())
		return count

	def clear_redis(self, season: str) -> int:
		"""Delete every player's keys of the season, then the player set itself. Returns keys deleted."""
		client = runtime.redis_client()
		deleted = 0
		for players in self.season_players(season):
			keys = [key for player in players for key in srs_keys.player_keys(player, season)]
			pipe = client.pipeline(transaction=False)
			for key in keys:
				pipe.delete(key)
			deleted += sum(pipe.execute())
		return deleted + client.delete(srs_keys.season_players_key(season))

	# --- scheduled jobs --------------------------------------------------------------------------

	def process_auto_archive(self) -> dict:
		"""Archive every season with auto_archive set, not active, whose end date has passed (a season
		ending today is still running) and that is not archived yet. Returns {success,
		archived_seasons, failed_seasons}."""
		today = runtime.now().date()
		names = [
			row[0]
			for row in runtime.db().sql(
				f"""select name from {SEASON} where auto_archive = 1 and is_active = 0 and end_date < %s
				and coalesce(archive_status, '') <> 'Archived' order by end_date, name""",
				(today,),
			)
		]
		archived, failed = 0, []
		for name in names:
			if self.archive_season(name)["success"]:
				archived += 1
			else:
				failed.append(name)
		runtime.log("auto_archive", archived_seasons=archived, failed_seasons=failed)
		return {"success": not failed, "archived_seasons": archived, "failed_seasons": failed}

	def retention_cutoff(self) -> date:
		return subtract_years(runtime.now().date(), runtime.settings().retention_years)

	def flag_eligible_for_deletion(self) -> dict:
		"""Flag archived rows archived before the retention cutoff (today minus `retention_years`).
		Returns {success, flagged_count, cutoff_date}."""
		cutoff = self.retention_cutoff()
		cutoff_at = datetime.combine(cutoff, datetime.min.time())
		database = runtime.db()
		flagged = 0
		for after, upto in name_ranges(ARCHIVE, runtime.settings().delete_chunk_size):
			condition, bounds = range_condition(after, upto)
			database.sql(
				f"""update {ARCHIVE} set eligible_for_deletion = 1
				where {condition} and eligible_for_deletion = 0 and archived_at < %s""",
				(*bounds, cutoff_at),
			)
			flagged += database.sql("select row_count()")[0][0]
			database.commit()
		audit_log.add(
			[
				audit_log.entry(
					"flag_eligible_for_deletion",
					"Success",
					row_count=flagged,
					details={"cutoff_date": cutoff.isoformat()},
				)
			]
		)
		database.commit()
		runtime.log("flag_eligible_for_deletion", flagged_count=flagged, cutoff_date=cutoff.isoformat())
		return {"success": True, "flagged_count": flagged, "cutoff_date": cutoff.isoformat()}

	def delete_eligible_records(
		self, season_name: str | None = None, confirm: bool = False, progress: Progress | None = None
	) -> dict:
		"""Delete archived rows flagged eligible (of one season, or all), in committed chunks.
		Does nothing unless `confirm` is True. Returns {success, deleted_count, error}."""
		if season_name is not None:
			validation.season_name(season_name, "season_name")
		if confirm is not True:
			return {
				"success": False,
				"deleted_count": 0,
				"error": "Deleting archived records needs confirm=True",
			}
		where, params = "eligible_for_deletion = 1", ()
		if season_name is not None:
			where, params = "eligible_for_deletion = 1 and season = %s", (season_name,)
		database = runtime.db()
		total = database.sql(f"select count(*) from {ARCHIVE} where {where}", params)[0][0]
		deleted = 0
		for after, upto in name_ranges(ARCHIVE, runtime.settings().delete_chunk_size, where, params):
			condition, bounds = range_condition(after, upto)
			database.sql(f"delete from {ARCHIVE} where {where} and {condition}", (*params, *bounds))
			deleted += database.sql("select row_count()")[0][0]
			database.commit()
			report(progress, "Deleting archived records", min(deleted, total), total)
		audit_log.add(
			[audit_log.entry("delete_eligible_records", "Success", season=season_name, row_count=deleted)]
		)
		database.commit()
		runtime.log("delete_eligible_records", season=season_name, deleted_count=deleted)
		return {"success": True, "deleted_count": deleted, "error": None}

	def get_archive_status(self, season_name: str) -> dict:
		"""Where a season stands: the fields of the service docs plus the archive fields and partition."""
		season = self.season(season_name)
		if season is None:
			raise ValidationError("season_name", f"season {season_name!r} does not exist")
		name = season["name"]
		database = runtime.db()
		active = database.sql(f"select count(*) from {LIVE} where season = %s", (name,))[0][0]
		archived, eligible = database.sql(
			f"select count(*), coalesce(sum(eligible_for_deletion), 0) from {ARCHIVE} where season = %s",
			(name,),
		)[0]
		return {
			"season": name,
			"is_active": bool(season["is_active"]),
			"auto_archive": bool(season["auto_archive"]),
			"end_date": season["end_date"],
			"active_records": int(active),
			"archived_records": int(archived),
			"eligible_for_deletion": int(eligible),
			"total_records": int(active) + int(archived),
			"archive_status": season["archive_status"],
			"archived_on": season["archived_on"],
			"archive_error": season["archive_error"],
			"has_partition": partition_manager.has_partition(name),
		}


# --- entry points: scheduler, `bench execute`, API jobs, CLI -------------------------------------


def archive_season(season_name: str, progress: Progress | None = None) -> dict:
	return SRSArchiver().archive_season(season_name, progress)


def process_auto_archive() -> dict:
	return SRSArchiver().process_auto_archive()


def flag_eligible_for_deletion() -> dict:
	return SRSArchiver().flag_eligible_for_deletion()


def delete_eligible_records(
	season_name: str | None = None, confirm: bool = False, progress: Progress | None = None
) -> dict:
	return SRSArchiver().delete_eligible_records(season_name, confirm, progress)


def get_archive_status(season_name: str) -> dict:
	return SRSArchiver().get_archive_status(season_name)


def enqueue(method: str, **kwargs) -> str:
	"""Run one of the functions above in the long queue; returns the job id. Runs need no de-duplication:
	each one is idempotent and archiving holds a per-season lock."""
	job_id = f"memora-{method.replace('_', '-')}-{runtime.new_correlation_id()[:12]}"
	runtime.enqueue(
		f"memora.services.srs_archiver.{method}", queue="long", job_id=job_id, timeout=3600, **kwargs
	)
	return job_id


def queue_archive(season_name: str) -> dict:
	"""Check a season can be archived, then archive it in the background. Returns {job_id, season}."""
	archiver = SRSArchiver()
	season = archiver.season(season_name)
	refusal = archiver.archive_refusal(season, season_name)
	if refusal:
		raise NotAllowed(refusal)
	return {"job_id": enqueue("archive_season", season_name=season["name"]), "season": season["name"]}


def queue_flag_eligible() -> dict:
	return {"job_id": enqueue("flag_eligible_for_deletion")}


def queue_delete_eligible(season_name: str | None = None, confirm: bool = False) -> dict:
	"""Refuse at once without confirm=True; otherwise delete in the background. Returns {job_id}."""
	if season_name is not None:
		validation.season_name(season_name, "season_name")
	if confirm is not True:
		raise ValidationError("confirm", "must be true to delete archived records")
	return {"job_id": enqueue("delete_eligible_records", season_name=season_name, confirm=True)}
