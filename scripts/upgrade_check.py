"""Upgrade check on the bench at ~/frappe-bench (or $MEMORA_BENCH): a throwaway site runs Memora at
REV (the main the sites run now), gets seasons, partitions, trackers, warm
queues and answers waiting for persistence; then the bench's app moves to this checkout, the site
migrates as docs/operations.md says to upgrade, and every row, partition, queue, pending review and
queued job must be what it was; then a worker runs the jobs queued before the upgrade (under the old
dotted paths), and every answer they carry must land; a fan's message stored before the upgrade must
be found by its words at once and by its meaning after `recall-backfill`. Exit status 1 and what
changed otherwise.

	.venv/bin/python scripts/upgrade_check.py REV    # REV: the main the sites run now
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness import frappe_bench  # noqa: E402

SITE = "memora-upgrade.test"
STATE_SCRIPT = REPO / "scripts" / "upgrade_state.py"


def frappe_cli(*args: str, stdin: str | None = None) -> str:
	"""`bench --site ...` through the bench's own Python (as scripts/test.sh calls it)."""
	completed = subprocess.run(
		[frappe_bench.python(), "-m", "frappe.utils.bench_helper", "frappe", *args],
		cwd=frappe_bench.bench_dir() / "sites",
		input=stdin,
		capture_output=True,
		text=True,
		env={**os.environ, "CI": "1"},
	)
	if completed.returncode:
		raise RuntimeError(f"frappe {' '.join(args[:3])} failed:\n{completed.stderr[-3000:]}")
	return completed.stdout


def install(checkout: Path) -> None:
	"""The bench's app is `checkout`, installed into the bench's virtualenv."""
	link = frappe_bench.bench_dir() / "apps" / "memora"
	link.unlink(missing_ok=True)
	link.symlink_to(checkout)
	subprocess.run(
		[frappe_bench.python(), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", str(link)],
		check=True,
	)


def state(command: str) -> dict:
	"""Run by path, so the site imports the Memora installed in the bench, not this checkout."""
	out = subprocess.run(
		[frappe_bench.python(), str(STATE_SCRIPT), SITE, command],
		cwd=frappe_bench.bench_dir() / "sites",
		capture_output=True,
		text=True,
		check=True,
	).stdout
	return json.loads(out.strip().splitlines()[-1])


def main() -> int:
	if len(sys.argv) != 2:
		print(__doc__)
		return 2
	rev = sys.argv[1]
	sites = frappe_bench.bench_dir() / "sites"
	with open(sites / ".memora-test.lock", "w") as lock, tempfile.TemporaryDirectory() as old:
		fcntl.flock(lock, fcntl.LOCK_EX)
		subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", old, rev], check=True)
		try:
			install(Path(old))
			frappe_cli(
				"new-site", SITE, "--force", "--admin-password", "admin", "--db-root-username", "root",
				"--db-root-password", "", "--no-mariadb-socket", "--db-host", "127.0.0.1", stdin="\n",
			)  # fmt: skip
			frappe_cli("purge-jobs", "--site", SITE)  # an earlier check's jobs, in the shared queue
			frappe_cli("--site", SITE, "install-app", "memora")
			before = state("seed")
			install(REPO)
			# The upgrade as docs/operations.md gives it: the hooks Frappe cached before the upgrade
			# would not yet name Memora's keys as persistent when migrate clears the cache.
			frappe_cli("--site", SITE, "execute", "frappe.cache.delete_value", "--args", "['app_hooks']")
			frappe_cli("--site", SITE, "migrate")
			after = state("snapshot")
			# The jobs queued before the upgrade (under the dotted paths of the old Memora) run after it.
			frappe_cli("worker", "--queue", "short", "--burst")
			persisted = state("persisted")
			recalled = state("recall")
		finally:
			install(REPO)
			frappe_cli(
				"drop-site", SITE, "--db-root-username", "root", "--db-root-password", "", "--no-backup",
				"--force", stdin="\n",
			)  # fmt: skip
			subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", old], check=True)
	changed = [part for part in before if before[part] != after[part]]
	for part in before:
		print(f"{part}: {'CHANGED' if part in changed else 'kept'} ({len(before[part])} items)")
	lost = persisted["expected"] - persisted["persisted"]
	unlogged = persisted["expected"] - persisted["logged"]
	print(
		f"answers queued before the upgrade and written after it: {persisted['persisted']} of {persisted['expected']}"
		f", logged: {persisted['logged']}; review log partitioned like the trackers: {persisted['log_partitions']}"
	)
	print(f"fan memory recall after the upgrade: {json.dumps(recalled, sort_keys=True)}")
	recall_ok = (
		not recalled["numeric settings at 0"]
		and recalled["marked after migrate"] == {"": 2, "NULL": 1}
		and recalled["found by its words"][:1] == ["lexical"]
		and recalled["backfill"]["embedded"] == 1
		and recalled["found by its meaning"] == ["semantic"]
	)
	return 1 if changed or lost or unlogged or not persisted["log_partitions"] or not recall_ok else 0


if __name__ == "__main__":
	sys.exit(main())
