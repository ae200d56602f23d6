"""Erasure of a person over REST (GDPR): a fan across every creator, a player across every season.

`erase_fan` is for Memora Service and admins (fan memory is theirs); `erase_player` for admins only.
Both answer a receipt of what was removed and leave one Memora Erasure entry that names the person
only by pseudonym. Irreversible. What each removes: docs/fan-memory.md and docs/srs.md.
"""

from __future__ import annotations

from typing import TypedDict

import frappe

from memora.api.endpoint import endpoint
from memora.api.utils import ADMIN_ROLES, SERVICE_ROLES
from memora.services.erasure.fan import erase_fan as erase_fan_everywhere
from memora.services.erasure.player import erase_player as erase_player_everywhere


class ErasureReceipt(TypedDict):
	"""What an erasure removed: rows per DocType, Redis keys per key family, and audit rows of others
	in which the id was replaced by the pseudonym. `erasure` names the Memora Erasure entry; `subject`
	is the person's pseudonym there."""

	erasure: str
	subject: str
	rows: dict[str, int]
	keys: dict[str, int]
	redacted: dict[str, int]


@frappe.whitelist(methods=["POST"])
@endpoint(SERVICE_ROLES, camel_case=True)
def erase_fan(fan_id: str) -> ErasureReceipt:
	"""Erase a fan with every creator: interactions, Fan Memory rows, audit rows, cached contexts and
	rate-limit counters."""
	return erase_fan_everywhere(fan_id, requested_by=frappe.session.user)


@frappe.whitelist(methods=["POST"])
@endpoint(ADMIN_ROLES)
def erase_player(player: str) -> ErasureReceipt:
	"""Erase a player in every season: trackers (every partition), archived trackers, pending reviews,
	queues and their season-set memberships, re-sync marks, audit rows, rate-limit counters; a batch
	still queued writes nothing of theirs."""
	return erase_player_everywhere(player, requested_by=frappe.session.user)
