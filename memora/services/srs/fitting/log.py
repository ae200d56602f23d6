"""Reading a season's review log (Memora Review Log) for a fit: every row of its partition, a page at a
time in primary-key order (the key is (review id, season), so each page is one range read of the
season's partition, whatever the log's other indexes), each row as one text column, which PyMySQL
decodes far faster than five typed ones (its DATETIME and DECIMAL conversions are pure Python)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from memora import runtime
from memora.services.srs import review_log
from memora.services.srs.fitting.history import LogReview
from memora.services.tables import REVIEW_LOG

PAGE = 50_000
SEPARATOR = "\x1f"  # ids are validated free of control characters
ROW = (
	"concat_ws(char(31), player, question_id, timestampdiff(microsecond, '1970-01-01', reviewed_at), "
	"rating, elapsed_days)"
)


def season_reviews(
	season: str, progress: Callable[[int, int], None] | None = None, page: int = PAGE
) -> Iterator[LogReview]:
	"""Every review of the season's log; `progress(rows read, rows in the log)` after every page."""
	database = runtime.db()
	total = review_log.season_count(season)
	last, done = "", 0
	while True:
		rows = database.sql(
			f"""select name, {ROW} from {REVIEW_LOG} where season = %s and name > %s
			order by name limit {int(page)}""",
			(season, last),
		)
		for _, text in rows:
			player, question_id, reviewed_us, rating, elapsed = text.split(SEPARATOR)
			yield LogReview(player, question_id, int(reviewed_us), int(rating), float(elapsed))
		done += len(rows)
		if progress:
			progress(done, max(total, done))
		if len(rows) < page:
			return
		last = rows[-1][0]
