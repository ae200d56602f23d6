"""Season partitions, archiving and retention over REST. Memora Admin / System Manager only.

Partition changes run at once (their DDL waits at most 30 s for the table's metadata lock). Archiving,
flagging and deleting can take minutes on large seasons, so they are queued on the long queue and
answer a job id; follow it with `memora.api.desk.job_status`, and the season's progress with
`get_archive_status`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TypedDict

import frappe

from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES
from memora.exceptions import ValidationError
from memora.services.srs import archiver, partitions, retention, seasons

TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes"), ("0", "false", "no", "")


class PartitionCreated(TypedDict):
	"""The outcome of create_partition."""

	season: str
	partition: str
	created: bool
	moved_rows: int


class PartitionDropped(TypedDict):
	"""The outcome of drop_partition (`rows` were deleted with it)."""

	season: str
	partition: str
	dropped: bool
	rows: int


class Partition(TypedDict):
	"""One partition; `rows` is InnoDB's estimate."""

	partition: str
	season: str | None
	values: str
	is_default: bool
	rows: int
	data_bytes: int
	index_bytes: int


class JobStarted(TypedDict):
	"""A queued background job."""

	job_id: str


class ArchiveQueued(TypedDict):
	"""A queued archive of `season`."""

	job_id: str
	season: str


class ArchiveStatus(TypedDict):
	"""Where a season stands; total_records = active_records + archived_records."""

	season: str
	is_active: bool
	auto_archive: bool
	end_date: date | None
	active_records: int
	archived_records: int
	eligible_for_deletion: int
	total_records: int
	archive_status: str | None
	archived_on: datetime | None
	archive_error: str | None
	has_partition: bool
	review_log_records: int


def boolean(value: bool | int | str | None, field: str) -> bool:
	"""A flag from JSON (true/false) or a form ("1"/"0", "true"/"false"): never Python truthiness, where
	the string "0" would mean yes to a destructive option."""
	if isinstance(value, bool) or value is None:
		return bool(value)
	if isinstance(value, int) and value in (0, 1):
		return bool(value)
	if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
		return value.strip().lower() in TRUE_WORDS
	raise ValidationError(field, "must be true or false")


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def create_partition(season: str) -> PartitionCreated:
	"""Give a season its own partition of the tracker table and the review log; their rows in the DEFAULT
	partition move in.
	Idempotent: `created` is false when the partition was already there. Refused (404) for a season
	that does not exist: its partition would be an orphan."""
	return partitions.create_partition(seasons.existing_season(season))


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def list_partitions(doctype: str = partitions.PARTITIONED_DOCTYPE) -> list[Partition]:
	"""The table's partitions in order, with their season, estimated rows and sizes (empty when the
	DocType's table is not partitioned)."""
	return partitions.list_partitions(doctype)


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def drop_partition(season: str, force: bool = False) -> PartitionDropped:
	"""Drop a season's partition. Refused (409) while it holds rows unless `force` is true, which
	deletes them; archive the season first to keep them."""
	return partitions.drop_partition(season, force=boolean(force, "force"))


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def archive_season(season_name: str) -> ArchiveQueued:
	"""Queue the archive of a season. Refused at once: 404 for an unknown season, 409 for an active one."""
	return archiver.queue_archive(season_name)


@frappe.whitelist(methods=["GET"])
@endpoint(ADMIN_ROLES)
def get_archive_status(season_name: str) -> ArchiveStatus:
	"""Live, archived and deletable rows of a season, its archive fields and whether it has a partition."""
	return archiver.get_archive_status(season_name)


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def flag_eligible_for_deletion() -> JobStarted:
	"""Queue the retention pass: archived rows older than Memora Settings' retention_years are flagged."""
	return retention.queue_flag_eligible()


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def delete_eligible_records(season_name: str | None = None, confirm: bool = False) -> JobStarted:
	"""Queue the deletion of archived rows flagged eligible (of one season, or all). Refused (417)
	unless `confirm` is true: the deletion cannot be undone."""
	return retention.queue_delete_eligible(season_name or None, confirm=boolean(confirm, "confirm"))
