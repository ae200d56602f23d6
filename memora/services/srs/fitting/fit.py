"""Fit FSRS-6 parameters for a season from its review log, judge them against the season's current
parameters on the same held-out reviews, and adopt them only when they predict those reviews better.

The adoption rule: the fit needs at least MIN_REVIEWS trainable reviews (a review of a card on a later
day than its previous review; same-day learning steps teach FSRS nothing) in the season's log, and the
fitted set is adopted only when its log loss on the held-out reviews (the latest TEST_SHARE of them) is
lower than the current set's. The adopted set is the one that was judged: fitted on the earlier
reviews only, so its held-out figures are honest; next week's fit learns from the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from fsrs_rs_python import FSRS

from memora import runtime
from memora.services.srs import seasons
from memora.services.srs.fitting import evaluation, history, log, parameters, records, split

MIN_REVIEWS = 2000
ADOPTED, KEPT, SKIPPED = "adopted", "kept", "skipped"
TITLE = "Fitting FSRS parameters"
# Share of the progress bar each stage fills by its end: reading the log, building the histories and
# items, fitting, judging.
READ, BUILT, FITTED, JUDGED = 40, 50, 85, 100


def optimize_season(
	season: str, progress: Callable[[int, int], None] | None = None, min_reviews: int = MIN_REVIEWS
) -> dict:
	"""Fit the season's parameters and keep the fit on the season; adopt them if they beat the current
	ones. `progress(done, total)` follows the run (in percent); Desk gets a realtime bar. Returns the
	fit record: status (adopted, kept, skipped), review counts, current and fitted metrics."""
	season = seasons.existing_season(season)
	started = time.monotonic()
	report = Progress(season, progress)
	current, current_version = records.adopted(season)
	histories = history.card_histories(
		log.season_reviews(season, lambda done, total: report(READ * done // max(total, 1)))
	)
	record = fit_histories(
		histories, current or parameters.DEFAULT, current_version, runtime.now(), min_reviews, report
	)
	record["seconds"] = round(time.monotonic() - started, 3)
	if record["status"] != SKIPPED:
		records.store(season, record)
	runtime.log(
		"srs.parameters_fitted",
		season=season,
		**{k: v for k, v in record.items() if k != "parameters"},
	)
	return {"season": season, **record}


def optimize_active_seasons() -> dict:
	"""The weekly job: fit every active season; one season's failure does not stop the others."""
	outcome: dict[str, str] = {}
	for season in seasons.active_seasons():
		try:
			outcome[season] = optimize_season(season)["status"]
		except Exception as error:
			runtime.db().rollback()
			runtime.log_error(f"FSRS fit of season {season} failed", repr(error))
			outcome[season] = "failed"
	return {"success": "failed" not in outcome.values(), "seasons": outcome}


def fit_histories(
	histories: history.Histories,
	current: Sequence[float],
	current_version: str,
	fitted_at: datetime,
	min_reviews: int = MIN_REVIEWS,
	progress: Callable[[int], None] | None = None,
) -> dict:
	"""Split, fit on the earlier part, judge `current` and the fitted set on the later part, apply the
	adoption rule. Returns the fit record (parameters and metrics only when a fit was made)."""
	report = progress or (lambda percent: None)
	cards = histories.cards
	cut_us = split.cut(cards)
	train, test = split.counts(cards, cut_us) if cut_us is not None else (0, 0)
	record: dict = {
		"fitted_at": fitted_at.isoformat(sep=" ", timespec="seconds"),
		"reviews": histories.reviews,
		"cards": len(cards),
		"partial_cards": histories.partial_cards,
		"train_reviews": train,
		"test_reviews": test,
		"current_version": current_version,
	}
	if train + test < min_reviews or not train or not test:
		reason = f"{train + test} trainable reviews; a fit needs at least {min_reviews}"
		return {**record, "status": SKIPPED, "adopted": False, "reason": reason}
	items = split.train_items(cards, cut_us)
	report(BUILT)
	fitted = parameters.for_scheduler(FSRS(list(parameters.DEFAULT)).compute_parameters(items))
	report(FITTED)
	held_out = evaluation.HeldOut(cards, cut_us)
	before, after = held_out.metrics(current), held_out.metrics(fitted)
	report(JUDGED)
	adopted = after.log_loss < before.log_loss
	return {
		**record,
		"status": ADOPTED if adopted else KEPT,
		"adopted": adopted,
		"reason": "lower held-out log loss" if adopted else "no lower held-out log loss than the current set",
		"held_out_from": history.naive_time(cut_us).isoformat(sep=" ", timespec="seconds"),
		"parameters": list(fitted),
		"parameters_version": parameters.version(fitted, fitted_at),
		**before.as_dict("current"),
		**after.as_dict("fitted"),
	}


class Progress:
	"""Percent done, to the caller's callback and to Desk's realtime progress bar."""

	def __init__(self, season: str, callback: Callable[[int, int], None] | None) -> None:
		self.season, self.callback, self.last = season, callback, -1

	def __call__(self, percent: int) -> None:
		if percent == self.last:
			return
		self.last = percent
		if self.callback:
			self.callback(percent, 100)
		runtime.publish_progress(TITLE, percent, 100, description=f"Season {self.season}")
