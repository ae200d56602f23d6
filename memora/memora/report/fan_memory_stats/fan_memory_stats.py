# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

"""Per creator: fans, fans with memory, messages, interactions, average engagement and calibrated
profiles (`get_memory_stats`), busiest creators first."""

import frappe
from frappe import _

from memora.api.utils import raise_as_frappe, require_admin
from memora.memora.report.columns import column
from memora.services.srs import overview
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
		column("creator_id", _("Creator"), "Data", 200),
		column("total_fans", _("Fans"), "Int", 100),
		column("fans_with_memory", _("Fans with Memory"), "Int", 140),
		column("total_messages", _("Messages"), "Int", 110),
		column("total_interactions", _("Interactions"), "Int", 120),
		column("avg_engagement_score", _("Avg Engagement"), "Float", 130, precision=3),
		column("calibrated_profiles", _("Calibrated Profiles"), "Int", 150),
		column("last_updated", _("Last Updated"), "Datetime", 170),
	]
