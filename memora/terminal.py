"""Terminal output shared by the `memora` commands and the demo: progress bars and summary tables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Rich wraps to 80 columns when output is not a terminal; logs and pipes read better with wide tables.
console = Console(width=None if sys.stdout.isatty() else 160)

ProgressCallback = Callable[[int, int], None]


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressCallback]:
	"""A progress bar that yields `update(done, total)`, the callback long-running services accept."""
	columns = (
		TextColumn("{task.description}"),
		BarColumn(),
		MofNCompleteColumn(),
		TimeElapsedColumn(),
	)
	with Progress(*columns, console=console, transient=False) as progress:
		task = progress.add_task(description, total=total)

		def update(done: int, total: int | None = None) -> None:
			progress.update(task, completed=done, total=total if total is not None else done)

		yield update
		done = next(t.completed for t in progress.tasks if t.id == task)
		progress.update(task, completed=done, total=done or 1)


def _cell(value: Any) -> str:
	if isinstance(value, float):
		return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
	if isinstance(value, int) and not isinstance(value, bool):
		return f"{value:,}"
	if isinstance(value, list | tuple) and len(value) > 5:
		return ", ".join(str(v) for v in value[:5]) + f" … (+{len(value) - 5})"
	return "" if value is None else str(value)


def summary(title: str, values: Mapping[str, Any]) -> None:
	"""A two-column table of what a command did."""
	table = Table(title=title, show_header=False, title_justify="left")
	table.add_column(style="bold")
	table.add_column(justify="right")
	for name, value in values.items():
		table.add_row(name.replace("_", " "), _cell(value))
	console.print(table)


def rows_table(title: str, rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> None:
	"""A table with one row per record (partitions, seasons, ...)."""
	rows = list(rows)
	columns = columns or (list(rows[0]) if rows else [])
	table = Table(title=title, title_justify="left")
	for column in columns:
		table.add_column(column.replace("_", " "))
	for row in rows:
		table.add_row(*(_cell(row.get(c)) for c in columns))
	console.print(table if rows else f"[dim]{title}: nothing to show[/dim]")
