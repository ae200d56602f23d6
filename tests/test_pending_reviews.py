"""The pending-review store: written with the sorted set, cleared only by the review that persisted."""

from memora import runtime
from memora.services.srs import pending


def state(qid: str, review_id: str, ts: float) -> dict:
	return {"question_id": qid, "review_id": review_id, "reviewed_at": ts - 10, "next_review_ts": ts}


def test_record_get_and_clear_only_matching_review():
	pipe = runtime.redis_client().pipeline()
	pending.record(pipe, "p@x.com", "S1", [state("q1", "r1", 100.0), state("q2", "r2", 200.0)])
	pipe.execute()
	assert set(pending.get_all("p@x.com", "S1")) == {"q1", "q2"}
	assert pending.get_many("p@x.com", "S1", ["q2", "q9"])["q2"]["review_id"] == "r2"

	pipe = runtime.redis_client().pipeline()
	pending.record(pipe, "p@x.com", "S1", [state("q1", "r3", 300.0)])
	pipe.execute()
	# r1 was superseded by r3 before r1's job finished: clearing r1 must keep r3.
	assert pending.clear_persisted("p@x.com", "S1", [("q1", "r1"), ("q2", "r2")]) == 1
	assert pending.get_all("p@x.com", "S1") == {"q1": state("q1", "r3", 300.0)}


def test_clear_matches_ids_outside_ascii_and_ignores_a_missing_hash():
	assert pending.clear_persisted("p@x.com", "S-none", [("q1", "r1")]) == 0
	pipe = runtime.redis_client().pipeline()
	pending.record(pipe, "p@x.com", "S2", [state("q-ü🧮", "r-ß🧮", 100.0), state("q-é", "r-1", 100.0)])
	pipe.execute()
	assert pending.clear_persisted("p@x.com", "S2", [("q-ü🧮", "r-ß🧮"), ("q-é", "r-2")]) == 1
	assert set(pending.get_all("p@x.com", "S2")) == {"q-é"}


def test_overlay_prefers_pending_state():
	assert pending.overlay({"q1": 10.0, "q2": 20.0}, {"q2": state("q2", "r", 99.0)}) == {
		"q1": 10.0,
		"q2": 99.0,
	}
