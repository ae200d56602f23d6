"""Cutting a stream into lists of at most `size`: for SCANs and pages of ids sent in one round trip."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
	batch: list[str] = []
	for item in items:
		batch.append(item)
		if len(batch) >= max(size, 1):
			yield batch
			batch = []
	if batch:
		yield batch
