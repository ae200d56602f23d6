# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Per-season FSRS fitting on a site: the fit job on a season whose review log was generated with known
parameters stores its fit on the season and adopts it; the season form's Optimize Parameters button
queues that job; the analytics endpoints answer admins over HTTP and refuse players."""

import json

import frappe

from memora import runtime
from memora.api import desk
from memora.services.srs import scheduler
from memora.services.srs.fitting import fit, records
from memora.tests import fsrs_data
from memora.tests.utils import MemoraTestCase, api_token, http, make_season

ADMIN = "memora-fitting-admin@example.com"
PLAYER = "memora-fitting-player@example.com"
SEASON = "Test Fitting Season"
ENDPOINTS = (
	"memora.api.analytics.simulate_workload",
	"memora.api.analytics.season_analytics",
	"memora.api.analytics.parameter_fits",
)


class TestSeasonFitting(MemoraTestCase):
	USERS = ((ADMIN, "Memora Admin"), (PLAYER, "Memora Player"))

	@classmethod
	def setUpClass(cls):
		"""The season and about 9,000 generated reviews, committed: the fit commits, and HTTP requests read
		on their own connections."""
		super().setUpClass()
		make_season(SEASON, is_active=0, end_date="2030-12-31")
		cls.forget_fits()
		fsrs_data.insert_log(fsrs_data.simulate(players=30, cards=20, days=240, seed=7, season=SEASON))

	@classmethod
	def tearDownClass(cls):
		frappe.set_user("Administrator")
		cls.forget_fits()
		super().tearDownClass()

	@classmethod
	def forget_fits(cls):
		frappe.db.delete("Memora Review Log", {"season": SEASON})
		frappe.db.set_value(
			"Memora Season",
			SEASON,
			{"parameter_fits": None, "fsrs_parameters": None, "parameters_version": None},
			update_modified=False,
		)
		frappe.db.commit()
		scheduler.forget_season_parameters()

	def test_the_fit_job_stores_the_fit_on_the_season_and_adopts_it(self):
		result = fit.optimize_season(SEASON)
		self.assertEqual(result["status"], fit.ADOPTED, result)
		self.assertLess(result["fitted_log_loss"], result["current_log_loss"])

		season = frappe.get_doc("Memora Season", SEASON)
		kept = json.loads(season.parameter_fits)[-1]
		self.assertEqual(kept, {k: v for k, v in result.items() if k != "season"})
		self.assertEqual(json.loads(season.fsrs_parameters), result["parameters"])
		self.assertEqual(season.parameters_version, result["parameters_version"])
		# The scheduler takes the adopted set from the next answer on.
		settings = runtime.settings()
		self.assertEqual(scheduler.parameters_version(settings, SEASON), result["parameters_version"])

	def test_the_desk_button_queues_the_fit(self):
		frappe.set_user(ADMIN)
		started = desk.start_season_action(SEASON, "optimize")
		self.assertEqual((started["season"], started["action"]), (SEASON, "optimize"))
		job = runtime.fetch_job(started["job_id"])
		self.assertEqual(job.target, "memora.services.srs.fitting.fit.optimize_season")
		self.assertEqual(job.kwargs, {"season": SEASON})
		# Queued, or taken by the site's worker already; a failed or unknown job is a bug.
		self.assertIn(desk.job_status(started["job_id"])["status"], ("queued", "started", "finished"))

	def test_the_analytics_endpoints_answer_admins_over_http(self):
		token = api_token(ADMIN)
		workload = http("GET", ENDPOINTS[0], token, season=SEASON, days=7)
		self.assertEqual(workload.status_code, 200, workload.get_data(as_text=True))
		message = workload.json["message"]
		self.assertEqual((message["season"], message["days"]), (SEASON, 7))
		self.assertEqual(
			[s["desired_retention"] for s in message["scenarios"]], [0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
		)
		self.assertTrue(message["ratings_from_log"])
		self.assertTrue(all(len(s["reviews_per_day"]) == 7 for s in message["scenarios"]))

		found = http("GET", ENDPOINTS[1], token, season=SEASON, days=5)
		self.assertEqual(found.status_code, 200, found.get_data(as_text=True))
		message = found.json["message"]
		self.assertEqual(len(message["per_day"]), 5)
		self.assertEqual(set(message["due_forecast"]), {"overdue", "per_day"})
		self.assertIsInstance(message["calibration"], list)

		fits = http("GET", ENDPOINTS[2], token, season=SEASON)
		self.assertEqual(fits.status_code, 200, fits.get_data(as_text=True))
		self.assertEqual(fits.json["message"], records.fits(SEASON))

		missing = http("GET", ENDPOINTS[1], token, season="No Such Season")
		self.assertEqual(missing.status_code, 404)

	def test_players_are_refused(self):
		token = api_token(PLAYER)
		for endpoint in ENDPOINTS:
			with self.subTest(endpoint=endpoint):
				response = http("GET", endpoint, token, season=SEASON)
				self.assertEqual(response.status_code, 403)
				self.assertEqual(response.json["error_type"], "NOT_PERMITTED")
		frappe.set_user(PLAYER)
		with self.assertRaises(frappe.PermissionError):
			desk.start_season_action(SEASON, "optimize")
