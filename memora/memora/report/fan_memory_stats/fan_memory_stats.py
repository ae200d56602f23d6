# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Per creator: fans, fans with memory, messages, interactions, average engagement and calibrated
profiles (`get_memory_stats`), busiest creators first."""

import frappe
from frappe import _

from memora.api.utils import raise_as_frappe, require_admin
from memora.services import overview
from memora.services.user_memory_service import get_user_memory_service

DEFAULT_LIMIT = 50


def execute(filters: dict | None = None) -> tuple[list[dict], list[dict]]:
	require_admin()
	filters = frappe._dict(filters or {})
	service = get_user_memory_service()
	with raise_as_frappe():
		creators = (
			[filters.creator_id]
			if filters.creator_id
			else overview.creators_by_fans(filters.limit or DEFAULT_LIMIT)
		)
		rows = [{"creator_id": creator, **service.get_memory_stats(creator)} for creator in creators]
	return columns(), rows


def columns() -> list[dict]:
	return [
		{"fieldname": "creator_id", "label": _("Creator"), "fieldtype": "Data", "width": 200},
		{"fieldname": "total_fans", "label": _("Fans"), "fieldtype": "Int", "width": 100},
		{"fieldname": "fans_with_memory", "label": _("Fans with Memory"), "fieldtype": "Int", "width": 140},
		{"fieldname": "total_messages", "label": _("Messages"), "fieldtype": "Int", "width": 110},
		{"fieldname": "total_interactions", "label": _("Interactions"), "fieldtype": "Int", "width": 120},
		{
			"fieldname": "avg_engagement_score",
			"label": _("Avg Engagement"),
			"fieldtype": "Float",
			"precision": 3,
			"width": 130,
		},
		{
			"fieldname": "calibrated_profiles",
			"label": _("Calibrated Profiles"),
			"fieldtype": "Int",
			"width": 150,
		},
		{"fieldname": "last_updated", "label": _("Last Updated"), "fieldtype": "Datetime", "width": 170},
	]
