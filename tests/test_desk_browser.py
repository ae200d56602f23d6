"""Desk in a real browser: headless Chromium logs in to the bench's site, opens the Memora workspace and
a season, presses Rebuild Cache and sees the job finish, then the season's Redis queue exists.

It needs a Frappe bench ($MEMORA_BENCH or ~/frappe-bench) with the site ($MEMORA_TEST_SITE or
memora.test, Administrator's password `admin`) and built assets, Debian's chromium and chromedriver,
and MEMORA_DESK_BROWSER=1: scripts/test.sh sets it in its bench section, once the bench runs this
checkout and the site is migrated. Otherwise it is skipped with the reason. The site is served here by
a one-worker gunicorn (with Frappe's /assets) and one `bench worker` for the long queue; there is no
socketio, so the form sees the end of the job by polling memora.api.desk.job_status.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests.harness import frappe_bench

SEASON = "Desk Browser Test"
SITE = frappe_bench.site_name()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PAGE_TIMEOUT = 30
JOB_TIMEOUT = 45
CHROMIUM_FLAGS = (
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-dev-shm-usage",
	"--window-size=1400,1000",
)


def missing() -> str | None:
	"""Why the browser test cannot run here, or None."""
	bench = frappe_bench.bench_dir()
	if os.environ.get("MEMORA_DESK_BROWSER") != "1":
		return "runs in scripts/test.sh's bench section (MEMORA_DESK_BROWSER=1)"
	if not frappe_bench.has_site():
		return f"no Frappe bench with site {SITE} at {bench}"
	if not (bench / "sites" / "assets" / "assets.json").exists():
		return f"the bench's assets are not built (bench build in {bench})"
	if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
		return "Debian's chromium and chromium-driver are not installed"
	return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=f"Desk browser test: {missing()}")


def site_call(command: str, args: dict | None = None) -> dict:
	"""One tests.harness.desk_site command in the site."""
	return frappe_bench.run_in_site(
		"tests.harness.desk_site", command, SEASON, json.dumps(args or {}), timeout=60
	)


def long_queue_worker() -> list[str]:
	return [frappe_bench.python(), "-m", "frappe.utils.bench_helper", "frappe", "worker", "--queue", "long"]


@contextmanager
def chromium(profile: str):
	"""Headless Debian Chromium through its own chromedriver; the site's name resolves to 127.0.0.1."""
	os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager never downloads a driver or browser
	from selenium import webdriver
	from selenium.webdriver.chrome.service import Service

	options = webdriver.ChromeOptions()
	options.binary_location = CHROMIUM
	for flag in (
		*CHROMIUM_FLAGS,
		f"--user-data-dir={profile}",
		f"--host-resolver-rules=MAP {SITE} 127.0.0.1",
	):
		options.add_argument(flag)
	driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
	try:
		yield driver
	finally:
		driver.quit()


@pytest.fixture
def desk_season() -> Iterator[dict]:
	"""What tests.harness.desk_site's setup made: {trackers, setup_complete}."""
	made = site_call("setup")
	try:
		yield made
	finally:
		site_call("teardown", made)


def test_rebuild_cache_from_the_season_form(desk_season):
	from selenium.webdriver.common.by import By
	from selenium.webdriver.support import expected_conditions as ec
	from selenium.webdriver.support.ui import WebDriverWait

	with ExitStack() as stack:
		stack.enter_context(frappe_bench.bench_process(long_queue_worker(), "memora-desk-browser-worker.log"))
		port = stack.enter_context(
			# With Frappe's static middleware: assets and files served as `bench serve` does.
			frappe_bench.web_server(
				"frappe.app:application_with_statics()", "memora-desk-browser-gunicorn.log"
			)
		)
		profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="memora-chromium-"))
		driver = stack.enter_context(chromium(profile))
		wait = WebDriverWait(driver, PAGE_TIMEOUT)
		base = f"http://{SITE}:{port}"

		driver.get(f"{base}/login")
		wait.until(ec.visibility_of_element_located((By.ID, "login_email"))).send_keys("Administrator")
		driver.find_element(By.ID, "login_password").send_keys("admin")
		driver.find_element(By.CSS_SELECTOR, ".page-card-body .btn-login").click()
		wait.until(ec.url_contains("/app"))

		driver.get(f"{base}/app/memora")
		wait.until(
			ec.visibility_of_element_located(
				(By.XPATH, "//div[contains(@class, 'number-widget-box')]//*[contains(., 'Items Due Now')]")
			)
		)
		wait.until(ec.visibility_of_element_located((By.XPATH, "//*[@title='Memora Season']")))

		driver.get(f"{base}/app/memora-season/{urllib.parse.quote(SEASON)}")
		actions = (By.CSS_SELECTOR, '.page-actions .inner-group-button[data-label="Actions"] > button')
		wait.until(ec.element_to_be_clickable(actions)).click()
		rebuild = (By.CSS_SELECTOR, '.inner-group-button .dropdown-item[data-label="Rebuild%20Cache"]')
		wait.until(ec.element_to_be_clickable(rebuild)).click()

		dialog = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".modal.show .modal-body")))
		assert SEASON in dialog.text
		assert f"its {desk_season['trackers']} tracker rows" in dialog.text, dialog.text
		wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".modal.show .btn-primary"))).click()

		alert = WebDriverWait(driver, JOB_TIMEOUT).until(
			ec.visibility_of_element_located((By.CSS_SELECTOR, "#alert-container .alert-message"))
		)
		assert alert.text == "Rebuild Cache finished"

	keys = site_call("queue_keys")
	assert keys == {"queue": desk_season["trackers"], "players": ["Administrator"]}
