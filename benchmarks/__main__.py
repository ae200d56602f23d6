"""Run benchmarks: `python -m benchmarks [NAME ...] [--scale F] [--quick]`.

Each `benchmarks/bench_*.py` module has `run(ctx) -> list[Result]`. The runner prints one table and
writes every figure, with its baseline and ratio, to benchmarks/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.harness import Context, Result

HERE = Path(__file__).resolve().parent
# Run only when named: the scale run loads 10 M trackers and takes most of an hour at --scale 1.
ON_REQUEST = frozenset({"scale"})


def available() -> list[str]:
	return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def default() -> list[str]:
	return [name for name in available() if name not in ON_REQUEST]


def machine() -> dict:
	return {
		"platform": platform.platform(),
		"python": platform.python_version(),
		"cpus": os.cpu_count(),
		"processor": platform.processor() or platform.machine(),
	}


def render(results: list[Result]) -> Table:
	table = Table(title="Memora benchmarks")
	for column in ("benchmark", "metric", "value", "baseline", "ratio", "target", "ok"):
		table.add_column(column)
	for r in results:
		ratio = f"{r.ratio:.1f}x" if r.ratio else "-"
		baseline = f"{r.baseline:,.3f} {r.unit} ({r.baseline_label})" if r.baseline is not None else "-"
		ok = {True: "yes", False: "NO", None: "-"}[r.passed]
		table.add_row(r.benchmark, r.metric, f"{r.value:,.3f} {r.unit}", baseline, ratio, r.target, ok)
	return table


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__)
	parser.add_argument(
		"names",
		nargs="*",
		help=f"benchmarks to run (default: {default()}; {sorted(ON_REQUEST)} only when named)",
	)
	parser.add_argument("--scale", type=float, default=1.0, help="fraction of the documented data sizes")
	parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
	parser.add_argument("--output", type=Path, help="JSON file to write (default: benchmarks/results/)")
	args = parser.parse_args()

	ctx = Context(scale=args.scale, quick=args.quick)
	results: list[Result] = []
	started = time.time()
	for name in args.names or default():
		module = importlib.import_module(f"benchmarks.bench_{name}")
		results.extend(module.run(ctx))
	Console().print(render(results))

	stamp = datetime.now(timezone.utc)
	output = args.output or HERE / "results" / f"{stamp:%Y%m%dT%H%M%SZ}.json"
	output.parent.mkdir(parents=True, exist_ok=True)
	output.write_text(
		json.dumps(
			{
				"date": stamp.isoformat(),
				"machine": machine(),
				"scale": args.scale,
				"duration_s": round(time.time() - started, 1),
				"results": [r.as_dict() for r in results],
			},
			indent=1,
		)
	)
	print(f"wrote {output}")


if __name__ == "__main__":
	main()
