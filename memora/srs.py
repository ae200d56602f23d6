"""Spaced repetition at the `bench console` prompt (or any Python shell Memora is configured in).

	from memora import srs

	srs.get_review_session("ana@example.com", "2025-2026")
	srs.submit_review_session(
		"ana@example.com", "2025-2026", [{"question_id": "q-1", "is_correct": True, "duration_ms": 2400}]
	)
	srs.rebuild_season_cache("2025-2026")
	srs.reconcile_cache_with_database(season="2025-2026")
	srs.archive_season("2024-2025")
	srs.metrics()["operations"]

Every name here is the service function itself, so `help(srs.archive_season)` shows its contract.
In a site the calls use the site's database and Redis; as with any console work, `frappe.db.commit()`
keeps what a call wrote (the archiver, reconciliation and background jobs commit their own work).
"""

from memora.services.metrics import snapshot as metrics
from memora.services.partition_manager import create_partition, drop_partition, list_partitions
from memora.services.srs_archiver import SRSArchiver
from memora.services.srs_persistence import (
	failed_batches,
	get_persistence_status,
	persist_review_batch,
	replay_failed,
)
from memora.services.srs_reconciliation import last_summary as last_reconciliation
from memora.services.srs_reconciliation import reconcile_cache_with_database, reconcile_user_season
from memora.services.srs_redis_manager import SRSRedisManager, rebuild_season_cache
from memora.services.srs_reviews import get_review_session, submit_review_session

_archiver = SRSArchiver()
archive_season = _archiver.archive_season
process_auto_archive = _archiver.process_auto_archive
flag_eligible_for_deletion = _archiver.flag_eligible_for_deletion
delete_eligible_records = _archiver.delete_eligible_records
get_archive_status = _archiver.get_archive_status

__all__ = [
	"SRSArchiver",
	"SRSRedisManager",
	"archive_season",
	"create_partition",
	"delete_eligible_records",
	"drop_partition",
	"failed_batches",
	"flag_eligible_for_deletion",
	"get_archive_status",
	"get_persistence_status",
	"get_review_session",
	"last_reconciliation",
	"list_partitions",
	"metrics",
	"persist_review_batch",
	"process_auto_archive",
	"rebuild_season_cache",
	"reconcile_cache_with_database",
	"reconcile_user_season",
	"replay_failed",
	"submit_review_session",
]
