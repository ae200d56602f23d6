"""`memora demo` end to end at a small scale: real services, a real worker process, its own database."""

import os
import re

from click.testing import CliRunner

from memora import cli, runtime


def figure(output: str, label: str) -> str:
	match = re.search(rf"│ {re.escape(label)}\s+│\s+(.+?)\s+│", output)
	assert match, f"{label!r} not in the report"
	return match.group(1)


def test_demo_runs_every_step_and_reports(memora_database):
	result = CliRunner().invoke(cli.main, ["demo", "--scale", "0.02"], catch_exceptions=False)
	assert result.exit_code == 0, result.output

	out = result.output
	assert int(figure(out, "answers accepted").replace(",", "")) > 0
	assert figure(out, "rows persisted") == figure(out, "answers accepted")
	assert figure(out, "jobs failed") == "0"
	for kind in ("missing", "ghost", "stale"):
		assert figure(out, f"corrected {kind}") == figure(out, f"injected {kind}")
	assert figure(out, "success") == "True"
	assert figure(out, "interactions saved") == str(2 * 20)
	assert "Memory context of demo-" in out

	demo_db = re.search(r"Throwaway database (memora_demo_\w+)", out).group(1)
	assert (
		runtime.db().sql(
			"select count(*) from information_schema.schemata where schema_name = %s", (demo_db,)
		)[0][0]
		== 0
	)
	assert os.environ["MEMORA_DB_NAME"] == memora_database
