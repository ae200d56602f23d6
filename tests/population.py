"""A season's worth of tracker rows for the operations tests: players x questions, all due now."""

from memora import runtime
from tests.srs_data import insert_trackers


def add_trackers(season: str, players: int, questions: int) -> None:
	"""Players p0@example.com ... with questions q0 ... each, due now."""
	now = runtime.now_ts()
	for player in range(players):
		insert_trackers(f"p{player}@example.com", season, {f"q{q}": now for q in range(questions)})
