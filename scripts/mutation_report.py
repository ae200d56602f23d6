"""The mutation report of `make mutate`: the score per module and over all, and every surviving mutant,
from `mutmut results --all true` on stdin. Score = killed / (killed + survived): a mutant no test
runs ("no tests") counts apart, as coverage to add rather than an assertion to sharpen.

Survivors named in scripts/mutation_equivalents.txt (no behaviour tells them apart from the code, or
only a cluster does; docs/architecture.md gives each reason) are counted and listed apart, so the list
that needs work is the one headed "not listed". Survivors a fault test killed afterwards
(scripts/mutation_faults.py) count as killed."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ](?P<function>\S+)__mutmut_\d+: (?P<status>.+)$")
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.txt")
FAULT_KILLS = Path("mutants/fault_kills.txt")  # written by scripts/mutation_faults.py


def listed(path: Path) -> dict[str, str]:
	"""Name -> the rest of its line, from the lines `NAME REST` (blank lines and # comments skipped)."""
	found = {}
	for line in path.read_text().splitlines():
		if line.strip() and not line.startswith("#"):
			name, rest = line.split(maxsplit=1)
			found[name] = rest
	return found


def results(lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
	"""(module, mutant name, status) of each mutant in `mutmut results` lines."""
	for line in lines:
		found = LINE.match(line.rstrip("\n"))
		if found:
			yield found["module"], line.strip().rsplit(":", 1)[0], found["status"]


def main() -> None:
	equivalents = listed(EQUIVALENTS)
	fault_kills = set(FAULT_KILLS.read_text().split()) if FAULT_KILLS.exists() else set()
	by_module: dict[str, Counter] = defaultdict(Counter)
	survivors: dict[str, list[str]] = defaultdict(list)
	for module, name, status in results(sys.stdin):
		if status == "survived" and name in equivalents:
			status = "equivalent"
		elif status == "survived" and name in fault_kills:
			status = "killed by a fault test"
		by_module[module][status] += 1
		if status == "survived":
			survivors[module].append(name)
	total = Counter()
	print(f"{'module':<48} {'killed':>7} {'survived':>9} {'equivalent':>11} {'no tests':>9} {'score':>7}")
	for module in sorted(by_module):
		total.update(by_module[module])
		print(row(module, by_module[module]))
	print(row("all", total))
	if total["killed by a fault test"]:
		print(f"\n(killed: {total['killed by a fault test']} by fault tests, scripts/mutation_faults.py)")
	for module in sorted(survivors):
		print(f"\nSurvived, not listed as equivalent, in {module} (`mutmut show NAME` prints the change):")
		print("\n".join(f"  {name}" for name in survivors[module]))


def row(name: str, counts: Counter) -> str:
	killed = counts["killed"] + counts["timeout"] + counts["killed by a fault test"]
	tested = killed + counts["survived"] + counts["equivalent"]
	score = f"{killed / tested:.1%}" if tested else "-"
	return (
		f"{name:<48} {killed:>7} {counts['survived']:>9} {counts['equivalent']:>11} "
		f"{counts['no tests']:>9} {score:>7}"
	)


if __name__ == "__main__":
	main()
