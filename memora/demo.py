"""The end-to-end demo: a throwaway database, the services run for real, a short report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from memora import runtime, schema, standalone
from memora.services import partition_manager


def report_schema(console: Console) -> None:
	table = Table(title="Tables built from the DocType JSON")
	table.add_column("DocType")
	table.add_column("Partitioning")
	for doctype in schema.table_doctypes():
		method = partition_manager.partition_method(doctype) or "-"
		table.add_row(doctype, method)
	console.print(table)


def run_demo(keep: bool = False) -> None:
	console = Console()
	name = standalone.throwaway_name("demo")
	console.print(f"[bold]Memora demo[/bold] on database [cyan]{name}[/cyan]")
	standalone.create_database(name)
	try:
		console.print(f"Redis at {runtime.redis_url()} answers: {runtime.redis_client().ping()}")
		report_schema(console)
	finally:
		if not keep:
			standalone.drop_database(name)
