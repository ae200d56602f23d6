# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document

from memora.api.utils import raise_as_frappe
from memora.install import shape_tables
from memora.services import validation
from memora.services.srs.queue import SRSRedisManager

# The (player, season) queue of each edit this request or job made, synced after each commit.
QUEUES_FLAG = "memora_queues_to_sync"
# A Data Import commits every row; its queues are synced this many cards at a time (one pipelined
# write per player) and the rest when the import's job or request ends.
IMPORT_BATCH = 500


class PlayerMemoryTracker(Document):
	def validate(self):
		with raise_as_frappe():
			validation.season_name(self.season)
			validation.identifier(self.question_id, "question_id")

	def on_update(self):
		before = self.get_doc_before_save()
		sync_after_commit(self, before)

	def on_trash(self):
		sync_after_commit(self)

	def after_rename(self, old, new, merge=False):
		sync_after_commit(self)


def sync_after_commit(*docs) -> None:
	"""Queue the players' review queues for a sync once the transaction commits: a rolled-back edit
	never reaches Redis, and a sync reads the committed rows."""
	queues = frappe.flags.setdefault(QUEUES_FLAG, [])
	queues.extend((doc.player, doc.season) for doc in docs if doc and doc.player and doc.season)
	frappe.db.after_commit.add(sync_if_due)


def sync_if_due() -> None:
	if frappe.flags.in_import and len(frappe.flags.get(QUEUES_FLAG) or ()) < IMPORT_BATCH:
		return
	sync_queues()


def sync_queues() -> None:
	"""Sync the queues edits left (after each commit, and from the after_request and after_job hooks
	for what an import left)."""
	queues = frappe.flags.pop(QUEUES_FLAG, None)
	if queues:
		SRSRedisManager().sync_queues(queues, "tracker_edit")


def on_doctype_update():
	"""Frappe syncs columns and single-field indexes; the composite keys and partitioning are ours."""
	shape_tables("Player Memory Tracker")
