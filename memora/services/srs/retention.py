"""Retention of archived trackers: rows archived longer than `retention_years` ago are flagged
eligible for deletion (weekly), and deleted only when an admin confirms, in committed chunks."""

from __future__ import annotations

from datetime import date, datetime

from memora import runtime
from memora.exceptions import ValidationError
from memora.services import audit_log, validation
from memora.services.srs.archive_rows import Progress, name_ranges, queue_long_job, range_condition, report
from memora.services.tables import ARCHIVED_TRACKERS

JOB_MODULE = "memora.services.srs.retention"


def subtract_years(day: date, years: int) -> date:
	"""Same calendar day `years` earlier; 29 February becomes 28 February."""
	try:
		return day.replace(year=day.year - years)
	except ValueError:
		return day.replace(year=day.year - years, day=28)


def retention_cutoff() -> date:
	return subtract_years(runtime.now().date(), runtime.settings().retention_years)


def flag_eligible_for_deletion() -> dict:
	"""Flag archived rows archived before the retention cutoff (today minus `retention_years`).
	Returns {success, flagged_count, cutoff_date}."""
	cutoff = retention_cutoff()
	cutoff_at = datetime.combine(cutoff, datetime.min.time())
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
	total = database.sql(f"select count(*) from {ARCHIVED_TRACKERS} where {where}", params)[0][0]
	deleted = 0
	for after, upto in name_ranges(ARCHIVED_TRACKERS, runtime.settings().delete_chunk_size, where, params):
		condition, bounds = range_condition(after, upto)
		database.sql(f"delete from {ARCHIVED_TRACKERS} where {where} and {condition}", (*params, *bounds))
		deleted += database.sql("select row_count()")[0][0]
		database.commit()
		report(progress, "Deleting archived records", min(deleted, total), total)
	audit_log.add(
		[audit_log.entry("delete_eligible_records", "Success", season=season_name, row_count=deleted)]
	)
	database.commit()
	runtime.log("delete_eligible_records", season=season_name, deleted_count=deleted)
	return {"success": True, "deleted_count": deleted, "error": None}


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
