"""`memora` on the command line, against the MariaDB and Redis given by MEMORA_* environment variables."""

from __future__ import annotations

import click

from memora import standalone


@click.group()
def main() -> None:
	"""Memora outside a bench."""


@main.command("init-db")
@click.argument("name")
def init_db(name: str) -> None:
	"""Create database NAME (if needed) and build Memora's tables in it."""
	standalone.create_database(name)
	click.echo(f"Database {name} is ready.")


@main.command("worker")
@click.option("--queue", "queues", multiple=True, default=("short", "default", "long"), show_default=True)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker(queues: tuple[str, ...], burst: bool) -> None:
	"""Run an RQ worker for Memora's background jobs."""
	standalone.run_worker(list(queues), burst=burst)


@main.command("demo")
@click.option("--keep", is_flag=True, help="Keep the demo database afterwards.")
def demo(keep: bool) -> None:
	"""A short end-to-end run of the services on a throwaway database."""
	from memora.demo import run_demo

	run_demo(keep=keep)


if __name__ == "__main__":
	main()
