"""Retention of archived seasons: tracker rows archived longer than `retention_years` ago are flagged
eligible for deletion (weekly), and deleted only when an admin confirms, in committed chunks; the same
confirmed run deletes the review log of every season archived before that cutoff (kept until then for
fitting and analytics), a partition at a time."""

from __future__ import annotations

from datetime import date, datetime

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import audit_log, validation
from memora.services.srs import partitions, review_log
from memora.services.srs.archive_rows import Progress, name_ranges, queue_long_job, range_condition, report
from memora.services.tables import ARCHIVED_TRACKERS, REVIEW_LOG, SEASONS

JOB_MODULE = "memora.services.srs.retention"


def subtract_years(day: date, years: int) -> date:
	"""Same calendar day `years` earlier; 29 February becomes 28 February."""
	try:
		return day.replace(year=day.year - years)
	except ValueError:
		return day.replace(year=day.year - years, day=28)


def retention_cutoff() -> date:
	return subtract_years(runtime.now().date(), runtime.settings().retention_years)


def cutoff_time() -> datetime:
	"""Midnight of the retention cutoff: what was archived before it has been kept long enough."""
	return datetime.combine(retention_cutoff(), datetime.min.time())


def flag_eligible_for_deletion() -> dict:
	"""Flag archived rows archived before the retention cutoff (today minus `retention_years`).
	Returns {success, flagged_count, cutoff_date}."""
	cutoff = retention_cutoff()
	cutoff_at = cutoff_time()
	database = runtime.db()
	flagged = 0
	for after, upto in name_ranges(ARCHIVED_TRACKERS, runtime.settings().delete_chunk_size):
		condition, bounds = range_condition(after, upto)
		database.sql(
			f"""update {ARCHIVED_TRACKERS} set eligible_for_deletion = 1
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
	season_name: str | None = None, confirm: bool = False, progress: Progress | None = None
) -> dict:
	"""Delete archived rows flagged eligible (of one season, or all), in committed chunks, and the review
	log of the seasons archived before the retention cutoff (`expire_review_logs`). Does nothing unless
	`confirm` is True. Returns {success, deleted_count, review_log_deleted, error}."""
	if season_name is not None:
		validation.season_name(season_name, "season_name")
	if confirm is not True:
		return {
			"success": False,
			"deleted_count": 0,
			"review_log_deleted": 0,
			"error": "Deleting archived records needs confirm=True",
		}
	where, params = "eligible_for_deletion = 1", ()
	if season_name is not None:
		where, params = "eligible_for_deletion = 1 and season = %s", (season_name,)
	database = runtime.db()
	total = database.sql(f"select count(*) from {ARCHIVED_TRACKERS} where {where}", params)[0][0]
	deleted = 0
	for after, upto in name_ranges(ARCHIVED_TRACKERS, runtime.settings().delete_chunk_size, where, params):
		condition, bounds = range_condition(after, upto)
		database.sql(f"delete from {ARCHIVED_TRACKERS} where {where} and {condition}", (*params, *bounds))
		deleted += database.sql("select row_count()")[0][0]
		database.commit()
		report(progress, "Deleting archived records", min(deleted, total), total)
	logged = expire_review_logs(season_name)
	audit_log.add(
		[
			audit_log.entry(
				"delete_eligible_records",
				"Success",
				season=season_name,
				row_count=deleted,
				details={"review_log_deleted": logged},
			)
		]
	)
	database.commit()
	runtime.log("delete_eligible_records", season=season_name, deleted_count=deleted, review_log=logged)
	return {"success": True, "deleted_count": deleted, "review_log_deleted": logged, "error": None}


def expire_review_logs(season_name: str | None = None) -> int:
	"""Delete the review log of every season (or of one) archived before the retention cutoff; returns
	the rows deleted. A season with its partition is emptied by one `TRUNCATE PARTITION`, if no row came
	in while it was counted (a replayed batch; the next run takes it); one without (its rows in DEFAULT)
	in committed chunks."""
	where, params = "archive_status = 'Archived' and archived_on < %s", (cutoff_time(),)
	if season_name is not None:
		where, params = f"{where} and name = %s", (*params, season_name)
	database = runtime.db()
	seasons = [row[0] for row in database.sql(f"select name from {SEASONS} where {where}", params)]
	deleted = 0
	for season in seasons:
		if partitions.has_partition(season, review_log.DOCTYPE):
			fingerprint = partitions.partition_fingerprint(season, review_log.DOCTYPE)
			if fingerprint[0] and partitions.truncate_partition(season, fingerprint, review_log.DOCTYPE):
				deleted += fingerprint[0]
			continue
		chunk = runtime.settings().delete_chunk_size
		while True:
			database.sql(f"delete from {REVIEW_LOG} where season = %s limit {int(chunk)}", (season,))
			count = database.sql("select row_count()")[0][0]
			database.commit()
			deleted += count
			if count < chunk:
				break
	return deleted


def queue_flag_eligible() -> dict:
	return {"job_id": queue_long_job(JOB_MODULE + ".flag_eligible_for_deletion")}


def queue_delete_eligible(season_name: str | None = None, confirm: bool = False) -> dict:
	"""Refuse at once without confirm=True; otherwise delete in the background. Returns {job_id}."""
	if season_name is not None:
		validation.season_name(season_name, "season_name")
	if confirm is not True:
		raise ValidationError("confirm", "must be true to delete archived records")
	return {
		"job_id": queue_long_job(
			JOB_MODULE + ".delete_eligible_records", season_name=season_name, confirm=True
		)
	}
