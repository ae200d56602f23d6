"""A season's worth of tracker rows for the operations tests: players x questions, all due now."""

from memora import runtime
from tests.srs_data import insert_trackers, make_season


def populated_season(season: str, players: int, questions: int, active: bool = False) -> None:
	"""The season, with players p0@example.com ... holding questions q0 ... each, due now."""
	make_season(season, active=active)
	now = runtime.now_ts()
	for player in range(players):
		insert_trackers(f"p{player}@example.com", season, {f"q{q}": now for q in range(questions)})
