# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Users, seasons, real HTTP requests and a test case base shared by the site-side endpoint tests."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, get_test_client, now_datetime
from rq import Worker

from memora import runtime
from memora.services.srs import in_flight, keys
from memora.services.srs.queue import SRSRedisManager


def make_user(email: str, *roles: str) -> None:
	"""A user holding `roles`: created on first use, given any role it lacks on later runs."""
	if not frappe.db.exists("User", email):
		with unthrottled_user_creation():
			frappe.get_doc(
				{
					"doctype": "User",
					"email": email,
					"first_name": email.split("@")[0],
					"send_welcome_email": 0,
				}
			).insert(ignore_permissions=True)
	if roles:
		frappe.get_doc("User", email).add_roles(*roles)


@contextmanager
def unthrottled_user_creation() -> Iterator[None]:
	"""Frappe refuses a 61st new user within an hour (`throttle_user_limit`), and a site the benchmarks
	just used may have made a hundred: lift the limit in this process only, for the users made here."""
	saved = frappe.local.conf.get("throttle_user_limit")
	frappe.local.conf.throttle_user_limit = 10**9
	try:
		yield
	finally:
		if saved is None:
			frappe.local.conf.pop("throttle_user_limit", None)
		else:
			frappe.local.conf.throttle_user_limit = saved


def make_season(name: str, is_active: int, end_date: str = "2025-06-30") -> None:
	"""A season, created once; an active one first deactivates the others (only one may be active)."""
	if not frappe.db.exists("Memora Season", name):
		if is_active:
			frappe.db.set_value("Memora Season", {"is_active": 1}, "is_active", 0)
		frappe.get_doc(
			{
				"doctype": "Memora Season",
				"season_name": name,
				"start_date": "2025-01-01",
				"end_date": end_date,
				"is_active": is_active,
			}
		).insert(ignore_permissions=True)


def api_token(user: str) -> str:
	"""`token key:secret` of `user` (new keys, committed: a request runs on its own connection)."""
	doc = frappe.get_doc("User", user)
	doc.api_key = doc.api_key or frappe.generate_hash(length=15)
	doc.api_secret = frappe.generate_hash(length=15)
	doc.save(ignore_permissions=True)
	frappe.db.commit()
	return f"token {doc.api_key}:{doc.get_password('api_secret')}"


def http(method: str, cmd: str, token: str | None = None, headers: dict | None = None, **arguments):
	"""A real request to /api/method/<cmd> through Frappe's whole WSGI stack, in its own thread with its
	own database connection (as a request runs), so it sees only committed data. GET sends `arguments`
	as a query string, anything else as a JSON body."""
	site, result = frappe.local.site, {}
	headers = {**({"Authorization": token} if token else {}), **(headers or {})}
	payload = {"query_string": arguments} if method == "GET" else {"json": arguments}

	def run():
		client = get_test_client(use_cookies=False)
		result["response"] = client.open(
			f"/api/method/{cmd}", method=method, base_url=f"http://{site}/", headers=headers, **payload
		)

	thread = threading.Thread(target=run)
	thread.start()
	thread.join()
	return result["response"]


class MemoraTestCase(FrappeTestCase):
	"""Creates the class's `USERS`, each `(email, *roles)`, and `SEASONS`, each `(name, is_active)`,
	once, and puts every test back to Administrator."""

	USERS: tuple[tuple[str, ...], ...] = ()
	SEASONS: tuple[tuple[str, int], ...] = ()

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		for email, *roles in cls.USERS:
			make_user(email, *roles)
		for name, is_active in cls.SEASONS:
			make_season(name, is_active)

	def tearDown(self):
		frappe.set_user("Administrator")
		super().tearDown()


class CommittedSeasonTestCase(MemoraTestCase):
	"""For tests that submit reviews. Submitting commits (it must read every committed review), so
	the class's `SEASON` and trackers are committed and removed again rather than rolled back."""

	SEASON = ""
	PLAYERS: tuple[str, ...] = ()

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		make_season(cls.SEASON, is_active=0, end_date="2030-12-31")
		frappe.db.commit()

	@classmethod
	def tearDownClass(cls):
		frappe.set_user("Administrator")
		cls.reset_trackers()
		frappe.db.commit()
		super().tearDownClass()

	@classmethod
	def reset_trackers(cls):
		"""No trackers, queues, pending reviews or unwritten batches of the class's players: an earlier
		test's answers would be laid over the new rows, or written over them by the site's workers where
		they run (so their batches are dropped or waited for first)."""
		for player in cls.PLAYERS:
			settle_batches(player, cls.SEASON)
		settle_persistence_queue()
		delete_season_trackers(cls.SEASON)
		for player in cls.PLAYERS:
			SRSRedisManager().clear_user_cache(player, cls.SEASON)
			runtime.redis_client().delete(keys.pending_key(player, cls.SEASON))
			runtime.queue_connection().delete(in_flight.key(player, cls.SEASON))

	def add_due_tracker(self, player: str, question_id: str):
		"""One committed tracker, due an hour ago."""
		tracker = {
			"doctype": "Player Memory Tracker",
			"player": player,
			"season": self.SEASON,
			"question_id": question_id,
			"next_review_date": add_to_date(now_datetime(), hours=-1),
		}
		after_transient_errors(lambda: frappe.get_doc(tracker).insert(ignore_permissions=True))
		frappe.db.commit()


# Job states a worker still moves on from (a failed batch waits for an admin's replay instead).
WAITING = ("queued", "deferred", "scheduled", "started")


def after_transient_errors(write: Callable[[], object], attempts: int = 5) -> None:
	"""A test's own tracker write, again after a transient error. The site's workers run beside the
	tests: one may be writing another test's batch into the same partition (test seasons share the
	DEFAULT one), whose gap locks can cross ours, or changing the table's partitions for a season a test
	just made (MariaDB 1412, "Table definition has changed")."""
	for attempt in range(attempts):
		try:
			write()
			return
		except Exception as e:
			frappe.db.rollback()
			if attempt == attempts - 1 or not runtime.is_transient_db_error(e):
				raise
			time.sleep(0.1 * (attempt + 1))


def delete_season_trackers(season: str) -> None:
	after_transient_errors(lambda: frappe.db.delete("Player Memory Tracker", {"season": season}))


def settle_batches(player: str, season: str, timeout: float = 30) -> None:
	"""The player's unwritten batches of the season are gone: written, where the site's workers run
	(waited for; deleting a job a worker may be taking would leave it half a record), else dropped
	(`bench run-tests` by hand, with no worker serving the site)."""
	job_ids = [
		job_id.decode() if isinstance(job_id, bytes) else job_id
		for job_id in runtime.queue_connection().smembers(in_flight.key(player, season))
	]
	if not Worker.count(queue=runtime.rq_queue(runtime.settings().persistence_queue)):
		for job_id in job_ids:
			runtime.delete_job(job_id)
		return
	wait_for(
		lambda: all(
			(job := runtime.fetch_job(job_id)) is None or job.status not in WAITING for job_id in job_ids
		),
		timeout,
		f"batches {job_ids} of {player} still unwritten",
	)


def settle_persistence_queue(timeout: float = 60) -> None:
	"""Every batch queued so far is written, where the site's workers run: earlier tests' batches go into
	the partition test seasons share, and a worker's gap locks there can deadlock a test's own writes."""
	queue = runtime.rq_queue(runtime.settings().persistence_queue)
	if not Worker.count(queue=queue):
		return
	wait_for(
		lambda: not (queue.count or queue.started_job_registry.count),
		timeout,
		"the persistence queue still busy",
	)


def wait_for(done: Callable[[], bool], timeout: float, what: str) -> None:
	"""Poll `done` until it holds; AssertionError saying `what` once `timeout` seconds have passed."""
	deadline = time.monotonic() + timeout
	while not done():
		if time.monotonic() > deadline:
			raise AssertionError(f"{what} after {timeout} s")
		time.sleep(0.05)


def assert_unique_key(case, doctype: str, columns: tuple[str, ...], values: list[str]) -> None:
	"""A second row with the same `columns` is refused by the table's unique key (the caller rolls back)."""
	table = f"`tab{doctype}`"
	insert = f"insert into {table} (name, {', '.join(columns)}) values (%s{', %s' * len(columns)})"
	frappe.db.sql(insert, [frappe.generate_hash(length=10), *values])
	with case.assertRaises(Exception) as refused:
		frappe.db.sql(insert, [frappe.generate_hash(length=10), *values])
	case.assertTrue(frappe.db.is_duplicate_entry(refused.exception), refused.exception)
