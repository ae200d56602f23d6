"""The scale benchmark end to end at a tiny size: a throwaway database, a plain Redis and a real 3-primary
cluster, every figure reported. Its performance claims live in docs/benchmarks.md, not here."""

from __future__ import annotations

import math

import pytest

from benchmarks import bench_scale
from benchmarks.harness import Context

pytestmark = pytest.mark.slow


def test_a_tiny_run_reports_every_figure_on_both_servers(memora_database, monkeypatch):
	# The benchmark points MEMORA_DB_NAME at a throwaway database of its own and drops it: give the
	# rest of the run its database back afterwards.
	monkeypatch.setenv("MEMORA_DB_NAME", memora_database)
	monkeypatch.delenv("MEMORA_REDIS_URL", raising=False)

	results = bench_scale.run(Context(scale=0.0005, quick=True))

	assert [r.metric.startswith(figure) for r, figure in zip(results, bench_scale.FIGURES, strict=True)] == [
		True
	] * len(bench_scale.FIGURES)
	for result in results:
		assert math.isfinite(result.value) and result.value > 0, result
		assert result.baseline is None or (math.isfinite(result.baseline) and result.baseline > 0), result
	reconciled = next(r for r in results if r.metric.startswith("reconcile_cache_with_database")).extra
	for server in ("single", "cluster"):
		assert reconciled[server]["reconcile_checked"] == 5000
		assert reconciled[server]["reconcile_discrepancies"] == 0
		assert reconciled[server]["keys"] > 50
