# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Review states as the SRS engine hands them to persistence. Free of Frappe, so the standalone suite
and the site-side tests build them the same way."""


def card(qid: str, review_id: str, reviewed_at: float, stability: float = 2.5, **extra) -> dict:
	return {
		"question_id": qid,
		"review_id": review_id,
		"reviewed_at": reviewed_at,
		"next_review_ts": reviewed_at + 86400,
		"stability": stability,
		"difficulty": 5.0,
		"state": "Review",
		"step": 0,
		"reps": 3,
		"lapses": 1,
		"last_rating": 3,
		"subject": "math",
		"topic": "algebra",
		**extra,
	}
