"""What a season's review log and trackers say about how its scheduling works: true retention and reviews
per day, calibration of the scheduler's predictions, and the reviews due in the coming days.

Every figure is one grouped query on the season's partition, so a season of millions of reviews answers
in the database, not in Python. Days are calendar days in the system time zone, the zone the Datetime
columns are stored in.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from memora import runtime
from memora.services import validation
from memora.services.srs import scheduler, seasons
from memora.services.srs.fitting import metrics, parameters, records
from memora.services.srs.fitting.evaluation import DECAY
from memora.services.tables import REVIEW_LOG, TRACKERS

DEFAULT_DAYS = 30
MAX_DAYS = 366
STATES = ("New", "Learning", "Review", "Relearning")
# Calibration bins: predicted recall probability in steps of 0.05 (most predictions lie above 0.7).
BINS = 20


def season_analytics(season: str, days: int = DEFAULT_DAYS) -> dict:
	"""Retention and reviews on each of the last `days` days, calibration over those days, and the due
	forecast for the next `days` days."""
	season = seasons.existing_season(season)
	days = validation.integer(days, "days", 1, MAX_DAYS)
	now = runtime.now()
	since = datetime.combine(now.date() - timedelta(days=days - 1), time())
	groups = log_groups(season, since)
	return {
		"season": season,
		"days": days,
		"per_day": per_day(groups, since.date(), days),
		"calibration": calibration(groups),
		"due_forecast": due_forecast(season, now, days),
	}


def log_groups(season: str, since: datetime) -> list[tuple]:
	"""The season's log since `since` in one read of its partition (reading the rows is most of the
	cost, so retention and calibration share it), grouped by day, state before the review and
	calibration bin: (day, state, reviews, rated, recalled, bin, sum of predictions).

	A review is rated when its rating is 1-4 (0: a caller's bare state), recalled when above Again. It
	falls in a calibration bin (0 to BINS - 1) when FSRS predicted it: a card with memory, a day or more
	after its previous review, under FSRS; its prediction is the forgetting curve of the logged stability
	with the decay of the parameters that scheduled the answer, the probability the scheduler itself gave
	the card. Every other review is in bin -1."""
	decays = version_decays(season)
	decay = "case parameters_version " + "when %s then %s " * len(decays) + "else %s end"
	p = metrics.recall_probability_sql("elapsed_days", "stability_before", "decay")
	return runtime.db().sql(
		f"""select day, state_before, count(*), sum(rating between 1 and 4), sum(rating > 1),
			coalesce(least(floor(p * {BINS}), {BINS - 1}), -1) as bin, coalesce(sum(p), 0)
		from (select day, state_before, rating, if(predicted, {p}, null) as p
			from (select date(reviewed_at) as day, state_before, rating, elapsed_days, stability_before,
					{decay} as decay,
					scheduler = %s and state_before in ('Learning', 'Review', 'Relearning')
					and stability_before > 0 and elapsed_days >= 1 and rating between 1 and 4 as predicted
				from {REVIEW_LOG} where season = %s and reviewed_at >= %s) reviews) predictions
		group by day, state_before, bin""",
		(
			*(value for pair in decays.items() for value in pair),
			parameters.DEFAULT[DECAY],
			scheduler.FSRS,
			season,
			since,
		),
	)


def per_day(groups: list[tuple], first: date, days: int) -> list[dict]:
	"""Each day from `first` on: its reviews (every log row) and its true retention (the share of rated
	reviews not rated Again), overall and by the card's state before the review. Rows of unknown state
	(written before the log kept it) count as reviews only."""
	found = {first + timedelta(days=n): _day(first + timedelta(days=n)) for n in range(days)}
	for day, state, count, rated, recalled, _, _ in groups:
		entry = found.get(day)
		if entry is None:  # a review stamped in the future (a clock ahead): not a day of the window
			continue
		entry["reviews"] += int(count)
		if state is None:
			continue
		entry["rated"] += int(rated or 0)
		entry["recalled"] += int(recalled or 0)
		by_state = entry["by_state"][STATES.index(state)]
		by_state["reviews"] += int(rated or 0)
		by_state["recalled"] += int(recalled or 0)
	for entry in found.values():
		entry["retention"] = _share(entry["recalled"], entry["rated"])
		for by_state in entry["by_state"]:
			by_state["retention"] = _share(by_state["recalled"], by_state["reviews"])
	return list(found.values())


def _day(day: date) -> dict:
	return {
		"date": day,
		"reviews": 0,
		"rated": 0,
		"recalled": 0,
		"retention": None,
		"by_state": [{"state": state, "reviews": 0, "recalled": 0, "retention": None} for state in STATES],
	}


def _share(part: int, whole: int) -> float | None:
	return round(part / whole, 4) if whole else None


def calibration(groups: list[tuple]) -> list[dict]:
	"""FSRS's predictions against what players did: per bin of predicted recall probability, the mean
	prediction and the share recalled. Calibrated scheduling has the two equal in every bin. Empty bins
	are left out."""
	bins: dict[int, list[float]] = {}
	for _, _, count, _, recalled, b, p_sum in groups:
		if b is None or int(b) < 0:
			continue
		kept = bins.setdefault(int(b), [0, 0, 0.0])
		kept[0] += int(count)
		kept[1] += int(recalled or 0)
		kept[2] += float(p_sum)
	return [
		{
			"low": round(b / BINS, 2),
			"high": round((b + 1) / BINS, 2),
			"reviews": count,
			"predicted": round(p_sum / count, 4),
			"observed": round(recalled / count, 4),
		}
		for b, (count, recalled, p_sum) in sorted(bins.items())
	]


def version_decays(season: str) -> dict[str, float]:
	"""The decay of every parameter set the season adopted, by version ("default" for the package's)."""
	decays = {scheduler.DEFAULT_PARAMETERS: parameters.DEFAULT[DECAY]}
	for fit in records.fits(season):
		if fit.get("adopted") and fit.get("parameters"):
			decays[fit["parameters_version"]] = float(fit["parameters"][DECAY])
	return decays


def due_forecast(season: str, now: datetime, days: int) -> dict:
	"""Cards due on each of the next `days` days (today first, with every overdue card in it), from the
	trackers' next review dates, and how many are overdue now."""
	today = now.date()
	end = datetime.combine(today + timedelta(days=days), time())
	rows = runtime.db().sql(
		f"""select greatest(date(next_review_date), %s) as day, count(*), sum(next_review_date < %s)
		from {TRACKERS} where season = %s and next_review_date < %s group by day""",
		(today, now, season, end),
	)
	due = {today + timedelta(days=n): 0 for n in range(days)}
	overdue = 0
	for day, count, late in rows:
		due[_as_date(day)] += int(count)
		overdue += int(late or 0)
	return {"overdue": overdue, "per_day": [{"date": day, "due": count} for day, count in due.items()]}


def _as_date(value: date | str) -> date:
	"""`greatest()` of a date column and a date parameter comes back as text from some drivers."""
	return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
