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

The season's review log is not touched: it stays in its partition (nothing writes to it once the season
is over) for fitting and analytics, until retention deletes it with the archived rows (`retention`).

The functions at the bottom are what the scheduler, `bench execute`, the API and the CLI call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

from memora import runtime
from memora.exceptions import NotAllowed, NotFound
from memora.services import audit_log, validation
from memora.services.srs import keys, partitions, queue_sync, retention, review_log
from memora.services.srs.archive_rows import (
	Progress,
	copy_sql,
	name_ranges,
	queue_long_job,
	range_condition,
	report,
)
from memora.services.tables import ARCHIVED_TRACKERS, SEASONS, TRACKERS

REDIS_BATCH = 500
ARCHIVE_OPERATION = "archive_season"
JOB_MODULE = "memora.services.srs.archiver"


class SRSArchiver:
	"""Archives seasons and applies the retention policy (Memora Settings `retention_years`)."""

	# --- seasons ---------------------------------------------------------------------------------

	def season(self, season_name: str) -> dict | None:
		"""The Memora Season row (its `name` is the canonical spelling), or None."""
		validation.season_name(season_name, "season_name")
		rows = runtime.db().sql(
			f"""select name, is_active, auto_archive, end_date, archive_status, archived_on,
			archived_records, archive_error from {SEASONS} where name = %s""",
			(season_name,),
			as_dict=True,
		)
		return rows[0] if rows else None

	def archive_refusal(self, season: dict) -> str | None:
		"""Why an existing season cannot be archived now, or None."""
		if season["is_active"]:
			return f"Season {season['name']!r} is active; deactivate it before archiving"
		return None

	def set_archive_fields(
		self, season: str, status: str, records: int | None = None, error: str | None = None
	) -> None:
		"""Record the archive outcome on the Memora Season (committed with any audit rows added before)."""
		now = runtime.now()
		runtime.db().sql(
			f"""update {SEASONS} set archive_status = %s, archive_error = %s, modified = %s,
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
		refusal = f"Season {season_name!r} does not exist" if season is None else self.archive_refusal(season)
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
			partitions.create_partition(season)
			fingerprint = partitions.partition_fingerprint(season)
			self.copy_partition(season, fingerprint[0], progress)
			records = self.archived_records(season)
			if records < fingerprint[0]:
				raise NotAllowed(
					f"{records} archived rows for {fingerprint[0]} live rows of season {season!r}; "
					"nothing was removed"
				)
			if not partitions.truncate_partition(season, fingerprint):
				raise NotAllowed(
					f"Season {season!r} received writes while it was being archived; nothing was removed, "
					"archive it again"
				)
			keys_deleted = self.clear_redis(season)
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
					details={"archived_records": records, "redis_keys_deleted": keys_deleted},
				)
			]
		)
		self.set_archive_fields(season, "Archived", records=records)
		runtime.log("season_archived", season=season, archived_count=moved, archived_records=records)
		return {"success": True, "archived_count": moved, "season": season, "error": None}

	def copy_partition(self, season: str, total: int, progress: Progress | None) -> None:
		"""Copy the season's whole partition (all of it is about to be truncated), one committed chunk at
		a time, each checked against the archive while its pages are still in memory."""
		partition = partitions.partition_id(season)
		chunk = runtime.settings().archive_chunk_size
		archived_at = runtime.now()
		done = 0
		for after, upto in name_ranges(f"{TRACKERS} partition (`{partition}`)", chunk):
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
			f"""select count(*) from {TRACKERS} partition (`{partition}`) live
			left join {ARCHIVED_TRACKERS} archive on archive.player = live.player and archive.season = live.season
				and archive.question_id = live.question_id
			where {condition} and (archive.name is null or not (archive.modified <=> live.modified))""",
			bounds,
		)[0][0]

	def archived_records(self, season: str) -> int:
		return runtime.db().sql(f"select count(*) from {ARCHIVED_TRACKERS} where season = %s", (season,))[0][
			0
		]

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
		batch: list[str] = []
		for player in queue_sync.season_players(season, REDIS_BATCH):
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
				pipe.exists(keys.pending_key(player, season))
			count += sum(pipe.execute())
		return count

	def clear_redis(self, season: str) -> int:
		"""Delete every player's keys of the season, then the player set itself. Returns keys deleted."""
		client = runtime.redis_client()
		deleted = 0
		for players in self.season_players(season):
			doomed = [key for player in players for key in keys.player_keys(player, season)]
			pipe = client.pipeline(transaction=False)
			for key in doomed:
				pipe.delete(key)
			deleted += sum(pipe.execute())
		return deleted + client.delete(*keys.season_players_keys(season))

	# --- scheduled jobs --------------------------------------------------------------------------

	def process_auto_archive(self) -> dict:
		"""Archive every season with auto_archive set, not active, whose end date has passed (a season
		ending today is still running) and that is not archived yet. Returns {success,
		archived_seasons, failed_seasons}."""
		today = runtime.now().date()
		names = [
			row[0]
			for row in runtime.db().sql(
				f"""select name from {SEASONS} where auto_archive = 1 and is_active = 0 and end_date < %s
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

	def flag_eligible_for_deletion(self) -> dict:
		return retention.flag_eligible_for_deletion()

	def delete_eligible_records(
		self, season_name: str | None = None, confirm: bool = False, progress: Progress | None = None
	) -> dict:
		return retention.delete_eligible_records(season_name, confirm, progress)

	def get_archive_status(self, season_name: str) -> dict:
		"""Where a season stands: the fields of the service docs plus the archive fields and partition."""
		season = self.season(season_name)
		if season is None:
			raise NotFound("season_name", f"season {season_name!r} does not exist")
		name = season["name"]
		database = runtime.db()
		active = database.sql(f"select count(*) from {TRACKERS} where season = %s", (name,))[0][0]
		archived, eligible = database.sql(
			f"select count(*), coalesce(sum(eligible_for_deletion), 0) from {ARCHIVED_TRACKERS} where season = %s",
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
			"review_log_records": review_log.season_count(name),
			"archive_status": season["archive_status"],
			"archived_on": season["archived_on"],
			"archive_error": season["archive_error"],
			"has_partition": partitions.has_partition(name),
		}


# --- entry points: scheduler, `bench execute`, API jobs, CLI -------------------------------------


def archive_season(season_name: str, progress: Progress | None = None) -> dict:
	return SRSArchiver().archive_season(season_name, progress)


def process_auto_archive() -> dict:
	return SRSArchiver().process_auto_archive()


def get_archive_status(season_name: str) -> dict:
	return SRSArchiver().get_archive_status(season_name)


def queue_archive(season_name: str) -> dict:
	"""Check a season can be archived, then archive it in the background. Returns {job_id, season}."""
	archiver = SRSArchiver()
	season = archiver.season(season_name)
	if season is None:
		raise NotFound("season_name", f"season {season_name!r} does not exist")
	refusal = archiver.archive_refusal(season)
	if refusal:
		raise NotAllowed(refusal)
	return {
		"job_id": queue_long_job(JOB_MODULE + ".archive_season", season_name=season["name"]),
		"season": season["name"],
	}
