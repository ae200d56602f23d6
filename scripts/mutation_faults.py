"""Survivors of the mutation run, run again against the fault tests that reach their paths.

The mutation run leaves fault tests out: they stop a Redis or cut a connection, and doing that for
every mutant would cost hours. A few failure paths are reached by nothing else. The survivors of the
functions named in scripts/mutation_fault_tests.txt are each run here against that function's fault
tests. Reads `mutmut results --all true` on stdin and writes the names of the mutants killed to
mutants/fault_kills.txt, which scripts/mutation_report.py counts as killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mutation_report import EQUIVALENTS, FAULT_KILLS, listed, results

FAULT_TESTS = Path(__file__).with_name("mutation_fault_tests.txt")
# A mutant that makes a fault test hang is killed, as mutmut counts a timeout.
TIMEOUT = 300


def function_of(mutant: str) -> str:
	return mutant.rsplit("__mutmut_", 1)[0]


def fails(tests: list[str], mutant: str) -> bool:
	"""The tests fail with `mutant` switched on ("" runs the code unmutated), in mutmut's copy of the project."""
	command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", *tests]
	try:
		run = subprocess.run(
			command,
			cwd="mutants",
			env={**os.environ, "MUTANT_UNDER_TEST": mutant},
			capture_output=True,
			timeout=TIMEOUT,
		)
	except subprocess.TimeoutExpired:
		return True
	if run.returncode not in (0, 1):  # 1: tests failed; anything else is pytest's own error
		sys.exit(f"pytest could not run {tests} (exit {run.returncode}):\n{run.stdout.decode()[-2000:]}")
	return run.returncode == 1


def main() -> None:
	plan = {function: tests.split() for function, tests in listed(FAULT_TESTS).items()}
	equivalents = listed(EQUIVALENTS)
	survivors = [
		name
		for _, name, status in results(sys.stdin)
		if status == "survived" and name not in equivalents and function_of(name) in plan
	]
	FAULT_KILLS.write_text("")
	if not survivors:
		return
	tests = sorted({test for name in survivors for test in plan[function_of(name)]})
	if fails(tests, ""):
		sys.exit(f"The fault tests fail on the unmutated code, so they can kill nothing: {tests}")
	killed = [name for name in survivors if fails(plan[function_of(name)], name)]
	FAULT_KILLS.write_text("".join(f"{name}\n" for name in killed))
	print(f"Fault tests: {len(killed)} of {len(survivors)} survivors they reach killed.")


if __name__ == "__main__":
	main()
