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
	srs.erase_player("ana@example.com")  # GDPR erase of every season, irreversible; returns a receipt

Every name here is the service function itself, so `help(srs.archive_season)` shows its contract.
In a site the calls use the site's database and Redis; as with any console work, `frappe.db.commit()`
keeps what a call wrote (the archiver, reconciliation and background jobs commit their own work).
"""

from memora.services.erasure.player import erase_player
from memora.services.metrics_report import snapshot as metrics
from memora.services.srs.archiver import SRSArchiver
from memora.services.srs.partitions import create_partition, drop_partition, list_partitions
from memora.services.srs.persistence import (
	failed_batches,
	get_persistence_status,
	persist_review_batch,
	replay_failed,
)
from memora.services.srs.queue import SRSRedisManager
from memora.services.srs.rebuild import rebuild_season_cache
from memora.services.srs.reconciliation import reconcile_user_season
from memora.services.srs.reconciliation_runs import last_summary as last_reconciliation
from memora.services.srs.reconciliation_runs import reconcile_cache_with_database
from memora.services.srs.retention import delete_eligible_records, flag_eligible_for_deletion
from memora.services.srs.reviews import get_review_session, submit_review_session

_archiver = SRSArchiver()
archive_season = _archiver.archive_season
process_auto_archive = _archiver.process_auto_archive
get_archive_status = _archiver.get_archive_status

__all__ = [
	"SRSArchiver",
	"SRSRedisManager",
	"archive_season",
	"create_partition",
	"delete_eligible_records",
	"drop_partition",
	"erase_player",
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
