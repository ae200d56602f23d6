"""Finding and deleting keys by pattern: the SCAN that erasure, the rate limits and clean-up patches
share. SCAN walks the keyspace in steps without blocking Redis; UNLINK frees the values off the main
thread. Both are for rare, admin-side work: nothing on a hot path looks keys up by pattern."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import redis

from memora.services.batches import batched

SCAN_COUNT = 1000


def matching(client: redis.Redis, pattern: str) -> Iterator[str]:
	return client.scan_iter(match=pattern, count=SCAN_COUNT)


def unlink(client: redis.Redis, keys: Iterable[str]) -> int:
	"""Delete `keys` in batches; returns how many existed."""
	return sum(client.unlink(*batch) for batch in batched(keys, SCAN_COUNT))


def unlink_matching(client: redis.Redis, pattern: str) -> int:
	"""Delete every key matching `pattern`; returns how many."""
	return unlink(client, matching(client, pattern))
