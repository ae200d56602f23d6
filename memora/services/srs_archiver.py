"""Forwarding: jobs queued, failed or scheduled before the move to `memora.services.srs` name this
module. Remove once no queue, failed registry or Scheduled Job Type names it (after the release
following the move; docs/operations.md)."""

from memora.services.srs.archiver import archive_season, process_auto_archive
from memora.services.srs.retention import delete_eligible_records, flag_eligible_for_deletion

__all__ = ["archive_season", "delete_eligible_records", "flag_eligible_for_deletion", "process_auto_archive"]
