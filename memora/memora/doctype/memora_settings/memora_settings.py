# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt

from memora import runtime
from memora.api.utils import raise_as_frappe
from memora.services import validation


class MemoraSettings(Document):
	def validate(self):
		if not 0.7 <= flt(self.desired_retention) < 1:
			frappe.throw(_("Desired Retention must be at least 0.7 and below 1"), title=_("Invalid Setting"))
		with raise_as_frappe():
			validation.integer(self.max_retries, "max_retries", minimum=0, maximum=20)
			validation.integer(self.idempotency_window, "idempotency_window", minimum=1)
			validation.integer(self.retention_years, "retention_years", minimum=1)
			validation.integer(self.bulk_batch_size, "bulk_batch_size", minimum=1, maximum=1000)
			validation.integer(self.calibration_min_messages, "calibration_min_messages", minimum=1)
			# A zero half-life would divide by zero in every engagement and emotion update.
			validation.number(
				self.engagement_half_life_days, "engagement_half_life_days", minimum=0, exclusive_minimum=True
			)
			validation.number(
				self.emotion_half_life_hours, "emotion_half_life_hours", minimum=0, exclusive_minimum=True
			)
			# Below 1: a message not embedded yet must still be found by its words.
			validation.number(self.recall_semantic_weight, "recall_semantic_weight", minimum=0, maximum=0.95)
			validation.number(self.recall_recency_weight, "recall_recency_weight", minimum=0, maximum=1)
			validation.number(
				self.recall_half_life_days, "recall_half_life_days", minimum=0, exclusive_minimum=True
			)
			validation.number(self.recall_timeout, "recall_timeout", minimum=0, exclusive_minimum=True)
			validation.integer(self.recall_cache_messages, "recall_cache_messages", minimum=0)
			validation.integer(
				self.recall_embed_batch_size, "recall_embed_batch_size", minimum=1, maximum=1024
			)

	def on_update(self):
		runtime.forget_settings()
