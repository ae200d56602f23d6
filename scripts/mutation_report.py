"""The mutation report of `make mutate`: the score per module and over all, and every surviving mutant,
from `mutmut results --all true` on stdin. Score = killed / (killed + survived): a mutant no test
runs ("no tests") counts apart, as coverage to add rather than an assertion to sharpen.

Survivors named in scripts/mutation_equivalents.txt (no behaviour tells them apart from the code, or
only a cluster does; docs/architecture.md gives each reason) are counted and listed apart, so the list
that needs work is the one headed "not listed"."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ](?P<function>\S+)__mutmut_\d+: (?P<status>.+)$")
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.txt")


def listed_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
	"""Mutant name -> reason, from the lines `NAME REASON` (blank lines and # comments skipped)."""
	listed = {}
	for line in path.read_text().splitlines():
		if line.strip() and not line.startswith("#"):
			name, reason = line.split(maxsplit=1)
			listed[name] = reason
	return listed


def main() -> None:
	equivalents = listed_equivalents()
	by_module: dict[str, Counter] = defaultdict(Counter)
	survivors: dict[str, list[str]] = defaultdict(list)
	for line in sys.stdin:
		found = LINE.match(line.rstrip("\n"))
		if not found:
			continue
		name = line.strip().rsplit(":", 1)[0]
		status = found["status"]
		if status == "survived" and name in equivalents:
			status = "equivalent"
		by_module[found["module"]][status] += 1
		if status == "survived":
			survivors[found["module"]].append(name)
	total = Counter()
	print(f"{'module':<48} {'killed':>7} {'survived':>9} {'equivalent':>11} {'no tests':>9} {'score':>7}")
	for module in sorted(by_module):
		total.update(by_module[module])
		print(row(module, by_module[module]))
	print(row("all", total))
	for module in sorted(survivors):
		print(f"\nSurvived, not listed as equivalent, in {module} (`mutmut show NAME` prints the change):")
		print("\n".join(f"  {name}" for name in survivors[module]))


def row(name: str, counts: Counter) -> str:
	killed = counts["killed"] + counts["timeout"]
	tested = killed + counts["survived"] + counts["equivalent"]
	score = f"{killed / tested:.1%}" if tested else "-"
	return (
		f"{name:<48} {killed:>7} {counts['survived']:>9} {counts['equivalent']:>11} "
		f"{counts['no tests']:>9} {score:>7}"
	)


if __name__ == "__main__":
	main()
