"""`bench --site SITE memora <command>`: the `memora` CLI's commands, run inside a site.

Frappe collects every app's `commands` list (frappe/utils/bench_helper.py). The group below
connects the site once and then runs the very same click command objects as the standalone
`memora` CLI (memora/cli.py); inside a site the runtime seam sends their I/O to the site's
MariaDB, Redis and workers.
"""

import click
import frappe
from frappe.commands import get_site, pass_context

from memora.cli import SITE_COMMANDS


@click.group("memora")
@pass_context
def memora(context) -> None:
	"""Memora operations on a site: partitions, cache, reconciliation, archive, stats, demo."""
	frappe.init(site=get_site(context))
	frappe.connect()
	click.get_current_context().call_on_close(frappe.destroy)


for command in SITE_COMMANDS:
	memora.add_command(command)

commands = [memora]
