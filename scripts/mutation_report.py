"""The mutation report of `make mutate`: the score per module and over all, and every surviving mutant,
from `mutmut results --all true` on stdin. Score = killed / (killed + survived): a mutant no test
runs ("no tests") counts apart, as coverage to add rather than an assertion to sharpen."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ](?P<function>\S+)__mutmut_\d+: (?P<status>.+)$")


def main() -> None:
	by_module: dict[str, Counter] = defaultdict(Counter)
	survivors: dict[str, list[str]] = defaultdict(list)
	for line in sys.stdin:
		found = LINE.match(line.rstrip("\n"))
		if not found:
			continue
		by_module[found["module"]][found["status"]] += 1
		if found["status"] == "survived":
			survivors[found["module"]].append(line.strip().rsplit(":", 1)[0])
	total = Counter()
	print(f"{'module':<48} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
	for module in sorted(by_module):
		counts = by_module[module]
		total.update(counts)
		print(row(module, counts))
	print(row("all", total))
	for module in sorted(survivors):
		print(f"\nSurvived in {module} (`mutmut show NAME` prints the change):")
		print("\n".join(f"  {name}" for name in survivors[module]))


def row(name: str, counts: Counter) -> str:
	tested = counts["killed"] + counts["timeout"] + counts["survived"]
	score = f"{(counts['killed'] + counts['timeout']) / tested:.1%}" if tested else "-"
	return f"{name:<48} {counts['killed'] + counts['timeout']:>7} {counts['survived']:>9} {counts['no tests']:>9} {score:>7}"


if __name__ == "__main__":
	main()
