"""The full run as the scheduler and the admin endpoint start it: an RQ job in a real worker process,
traced by the caller's correlation id into the audit rows, with its metrics sent before the work
horse exits."""

from __future__ import annotations

from memora import runtime
from memora.services import metrics_report
from memora.services.srs import reconciliation, reconciliation_runs
from tests.harness.workers import wait_until
from tests.reconciliation_fixtures import add_season, add_trackers, audit_rows, cache, queue


def test_queued_run_is_traced_end_to_end(workers):
	add_season("S1")
	cards = {"q1": 1_900_000_000.0, "q2": 1_900_003_600.0}
	add_trackers("p@x.com", "S1", cards)
	cache("p@x.com", "S1", {"q1": cards["q1"], "ghost": 5.0})
	before = metrics_report.snapshot()["operations"].get("reconciliation.run", {}).get("calls", 0)
	workers("long")

	with runtime.correlation("trace-reconcile-1"):
		job_id = reconciliation_runs.queue_reconciliation("S1")

	assert wait_until(lambda: runtime.fetch_job(job_id).status == "finished", timeout=30)
	assert queue("p@x.com", "S1") == cards
	[row] = audit_rows(reconciliation.PLAYER_OPERATION)
	assert (row["correlation_id"], row["row_count"]) == ("trace-reconcile-1", 2)
	[run] = audit_rows(reconciliation_runs.RUN_OPERATION)
	assert run["correlation_id"] == "trace-reconcile-1"
	assert reconciliation_runs.last_summary("S1")["correlation_id"] == "trace-reconcile-1"
	# The horse exits without atexit handlers: its figures were sent when the job ended.
	assert metrics_report.snapshot()["operations"]["reconciliation.run"]["calls"] == before + 1
