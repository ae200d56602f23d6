"""The `memora` operations commands, run through click against the real MariaDB and Redis."""

import re
import secrets
import sys
import time
import types
from datetime import date

import click
import pytest
from click.testing import CliRunner

from memora import cli, memory, runtime
from memora.runtime.site import frappe_installed
from memora.services import audit_log
from memora.services.fan_memory import embedding, vectors
from memora.services.srs import keys, partitions, persistence
from memora.tests.cards import card
from tests.harness.workers import wait_until
from tests.population import populated_season
from tests.srs_data import insert_trackers, make_season


def invoke(*args: str):
	return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def cell(output: str, label: str) -> str:
	"""The value beside `label` in a command's summary table (not just a digit somewhere in the output)."""
	match = re.search(rf"│ {re.escape(label)}\s*│\s*(.*?)\s*│", output)
	assert match, f"no {label!r} row in:\n{output}"
	return match.group(1)


def test_create_and_list_partitions():
	populated_season("CLI Part 2024", players=2, questions=3)

	result = invoke("create-partition", "CLI Part 2024")
	assert result.exit_code == 0, result.output
	assert cell(result.output, "moved rows") == "6"
	assert partitions.has_partition("CLI Part 2024")

	listing = invoke("list-partitions")
	assert listing.exit_code == 0
	assert "CLI Part 2024" in listing.output and "p_default" in listing.output


def test_hostile_season_name_is_refused_cleanly():
	result = invoke("create-partition", "x'); drop table `tabUser`; --")
	assert result.exit_code == 1
	assert "Error: season:" in result.output
	assert "Traceback" not in result.output


def test_archive_moves_rows_and_reports_status():
	populated_season("CLI Old 2023", players=3, questions=4)

	result = invoke("archive", "CLI Old 2023")
	assert result.exit_code == 0, result.output
	assert "archived count" in result.output and "12" in result.output

	status = invoke("archive-status", "CLI Old 2023")
	assert status.exit_code == 0
	row = next(line for line in status.output.splitlines() if "CLI Old 2023" in line)
	assert row.split("│")[5].strip() == "0" and row.split("│")[6].strip() == "12"


def test_archive_of_active_season_is_refused():
	populated_season("CLI Live 2025", players=1, questions=2, active=True)

	result = invoke("archive", "CLI Live 2025")
	assert result.exit_code == 1
	assert "is active; deactivate it before archiving" in result.output
	assert runtime.db().sql("select count(*) from `tabPlayer Memory Tracker`")[0][0] == 2


def test_delete_archived_needs_confirm_and_flag_uses_retention():
	refused = invoke("delete-archived")
	assert refused.exit_code == 2 and "--confirm" in refused.output

	flagged = invoke("flag-for-deletion")
	assert flagged.exit_code == 0
	assert str(date.today().replace(year=date.today().year - 3)) in flagged.output

	deleted = invoke("delete-archived", "--confirm")
	assert deleted.exit_code == 0 and "deleted count" in deleted.output


def test_rebuild_cache_fills_every_players_queue(redis_client):
	populated_season("CLI Cache 2025", players=4, questions=5)

	result = invoke("rebuild-cache", "CLI Cache 2025", "--batch-size", "7")
	assert result.exit_code == 0, result.output
	assert (cell(result.output, "total records"), cell(result.output, "total users")) == ("20", "4")
	assert all(
		redis_client.zcard(keys.queue_key(f"p{p}@example.com", "CLI Cache 2025")) == 5 for p in range(4)
	)


def test_workload_and_analytics_print_the_seasons_figures():
	make_season("CLI Fit 2026")
	now = time.time()
	insert_trackers(
		"ana@example.com",
		"CLI Fit 2026",
		{f"q{i}": now + 86400 * i for i in range(4)},
		state="Review",
		stability=10.0,
		difficulty=5.0,
		last_review_date=runtime.from_ts(now - 9 * 86400),
	)

	result = invoke("workload", "CLI Fit 2026", "--days", "10")
	assert result.exit_code == 0, result.output
	assert cell(result.output, "cards") == "4" and cell(result.output, "parameters version") == "default"
	assert "0.95" in result.output and "average reviews per day" in result.output

	result = invoke("analytics", "CLI Fit 2026", "--days", "3")
	assert result.exit_code == 0, result.output
	assert cell(result.output, "overdue") == "1"  # q0 fell due as the command ran
	assert re.search(rf"│ {runtime.now().date().isoformat()} │ 1 ", result.output)

	assert invoke("workload", "No Such Season").exit_code == 1


def test_stats_shows_operations_and_rates():
	populated_season("CLI Stats 2025", players=1, questions=2)
	invoke("rebuild-cache", "CLI Stats 2025")

	result = invoke("stats")
	assert result.exit_code == 0, result.output
	season = next(line for line in result.output.splitlines() if "CLI Stats 2025" in line)
	assert [cell.strip() for cell in season.split("│")[2:7]] == ["2", "1", "1", "2", "2"]
	assert "Operations" in result.output
	assert "cache hit rate" in result.output and "persistence lag p95 ms" in result.output
	assert "Redis for Memora's data (each primary)" in result.output


def test_replay_failed_lists_then_requeues_a_failed_batch(db, workers):
	now = time.time()
	state = card("q1", "r-replay", now, 2.0, subject=None, topic=None)
	failed = audit_log.entry(
		persistence.OPERATION,
		"Failed",
		job_id="memora-persist-clitest",
		player="p@example.com",
		season="CLI Replay",
		row_count=1,
		details={"responses": [state]},
		error="lost connection",
	)
	assert audit_log.write([failed])

	listed = invoke("replay-failed", "--list")
	assert listed.exit_code == 0 and "memora-persist-clitest" in listed.output
	assert db.sql("select count(*) from `tabPlayer Memory Tracker`")[0][0] == 0

	workers()
	replayed = invoke("replay-failed")
	assert replayed.exit_code == 0, replayed.output
	assert "replayed" in replayed.output

	def landed():
		db.rollback()
		return db.sql("select last_review_id from `tabPlayer Memory Tracker` where player = 'p@example.com'")

	assert wait_until(landed, timeout=30)
	assert landed()[0][0] == "r-replay"
	assert "memora-persist-clitest" not in invoke("replay-failed", "--list").output


def test_missing_database_is_explained(monkeypatch):
	monkeypatch.setenv("MEMORA_DB_NAME", "memora_no_such_db_" + secrets.token_hex(3))
	result = invoke("list-partitions")
	assert result.exit_code == 1
	assert "does not exist: create it with `memora init-db" in result.output
	runtime.db().close()


def test_bench_passes_arguments_to_the_benchmark_runner():
	result = CliRunner().invoke(cli.main, ["bench", "no_such_benchmark", "--quick"])
	assert isinstance(result.exception, SystemExit) and result.exit_code != 0


@pytest.fixture
def frappe_stub(monkeypatch):
	"""Just enough of `frappe` to load memora.commands: its group must connect the site it is given and
	then run the CLI's own command objects."""
	calls = []
	frappe = types.ModuleType("frappe")
	frappe.local = types.SimpleNamespace()
	frappe.init = lambda site: calls.append(("init", site))
	frappe.connect = lambda: calls.append(("connect",))
	frappe.destroy = lambda: calls.append(("destroy",))
	frappe_commands = types.ModuleType("frappe.commands")

	def pass_context(f):
		return click.pass_context(lambda ctx, *a, **kw: f(types.SimpleNamespace(**ctx.obj), *a, **kw))

	frappe_commands.pass_context = pass_context
	frappe_commands.get_site = lambda context: context.sites[0]
	frappe.commands = frappe_commands
	monkeypatch.setitem(sys.modules, "frappe", frappe)
	monkeypatch.setitem(sys.modules, "frappe.commands", frappe_commands)
	monkeypatch.delitem(sys.modules, "memora.commands", raising=False)
	frappe_installed.cache_clear()
	yield calls
	frappe_installed.cache_clear()
	sys.modules.pop("memora.commands", None)


def test_bench_group_connects_the_site_and_reuses_the_cli_commands(frappe_stub):
	from memora import commands

	group = commands.commands[0]
	assert group.name == "memora"
	for command in cli.SITE_COMMANDS:
		assert group.commands[command.name] is cli.main.commands[command.name]

	result = CliRunner().invoke(group, ["list-partitions"], obj={"sites": ["site1.local"]})
	assert result.exit_code == 0, result.output
	assert frappe_stub == [("init", "site1.local"), ("connect",), ("destroy",)]


@pytest.mark.skipif(not embedding.available(), reason="the recall model is not installed")
def test_recall_backfill_embeds_what_waits_and_resumes_from_what_is_left(db):
	for number in range(3):
		memory.save_interaction(
			{"fan_id": "cli-fan", "creator_id": "cli-creator", "type": "message", "content": f"note {number}"}
		)
	db.sql("update `tabInteraction` set embedding_model = null, embedding = null")
	db.commit()
	vectors.embed_pending(limit=1)  # an earlier run stopped after one row

	result = invoke("recall-backfill")
	assert result.exit_code == 0, result.output
	assert (cell(result.output, "embedded"), cell(result.output, "still waiting")) == ("2", "0")
	db.rollback()
	embedded = db.sql(
		"select count(*) from `tabInteraction` where embedding_model = %s", (embedding.MODEL_ID,)
	)[0][0]
	assert embedded == 3
