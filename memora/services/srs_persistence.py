"""Forwarding: jobs queued, failed or scheduled before the move to `memora.services.srs` name this
module. Remove once no queue, failed registry or Scheduled Job Type names it (after the release
following the move; docs/operations.md)."""

from memora.services.srs.persistence.jobs import recover_abandoned_jobs, run_batch_job

__all__ = ["recover_abandoned_jobs", "run_batch_job"]
