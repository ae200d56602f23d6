"""Forwarding: jobs queued, failed or scheduled before the move to `memora.services.srs` name this
module. Remove once no queue, failed registry or Scheduled Job Type names it (after the release
following the move; docs/operations.md)."""

from memora.services.srs.partitions import create_partition

__all__ = ["create_partition"]
