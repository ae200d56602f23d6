"""Rate-limit windows on real Redis: counted per (user, subject), never left without an expiry, named by
pseudonyms, and forgotten with the person they count."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from memora import runtime
from memora.services import rate_limits
from memora.services.pseudonym import pseudonym
from memora.services.rate_limits import Window

USER, PLAYER, OTHER = "service@example.com", "ana@example.com", "ben@example.com"


@pytest.mark.unit
def test_a_window_allows_up_to_its_limit():
	assert Window(limit=2, calls=2, reset_seconds=5).allowed
	assert not Window(limit=2, calls=3, reset_seconds=5).allowed
	assert Window(limit=2, calls=3, reset_seconds=5).remaining == 0


def test_calls_are_counted_per_user_and_subject():
	counts = [rate_limits.count("reviews", USER, PLAYER, 2, 60).calls for _ in range(3)]
	assert counts == [1, 2, 3]
	assert rate_limits.count("reviews", USER, OTHER, 2, 60).calls == 1
	assert rate_limits.count("reviews", PLAYER, PLAYER, 2, 60).calls == 1
	assert rate_limits.count("fan-writes", USER, PLAYER, 2, 60).calls == 1
	window = rate_limits.count("reviews", USER, PLAYER, 2, 60)
	assert not window.allowed and 1 <= window.reset_seconds <= 60


def test_the_reset_is_the_window_rounded_up_to_whole_seconds():
	"""A client waits `reset_seconds` before calling again: an hour-long window says an hour, and the last
	fraction of a second still says one second, never zero and never two."""
	assert rate_limits.count("reviews", USER, PLAYER, 2, 3600).reset_seconds == 3600
	assert rate_limits.count("fan-writes", USER, PLAYER, 2, 1).reset_seconds == 1


def test_a_window_is_counted_in_one_step(throwaway_redis, monkeypatch):
	"""INCR, EXPIRE NX and PTTL run in one script: a connection lost between them can never leave a
	counter created without its expiry (a caller locked out for good)."""
	monkeypatch.setenv("MEMORA_REDIS_URL", throwaway_redis.url)
	rate_limits.count("reviews", USER, PLAYER, 2, 60)
	stats = redis.Redis.from_url(throwaway_redis.url).info("commandstats")
	assert stats["cmdstat_eval"]["calls"] == 1
	assert stats["cmdstat_incr"]["calls"] == stats["cmdstat_expire"]["calls"] == 1


def test_key_names_hold_no_id():
	rate_limits.count("reviews", USER, PLAYER, 2, 60)
	(name,) = runtime.redis_client().scan_iter(match=runtime.key("rl", "*"))
	assert "ana" not in name.lower() and "service" not in name.lower()


def test_a_window_ends_and_a_new_one_starts():
	rate_limits.count("reviews", USER, PLAYER, 1, 1)
	assert not rate_limits.count("reviews", USER, PLAYER, 1, 1).allowed
	deadline = time.monotonic() + 5
	while time.monotonic() < deadline:
		if rate_limits.count("reviews", USER, PLAYER, 1, 1).calls == 1:
			return
	pytest.fail("the window never reset")


def test_no_counter_outlives_its_window_when_calls_race_the_window_edge():
	"""Eight threads count in one-second windows across several window edges (where a counter created
	and given its expiry in two steps could be left without one); every counter seen has an expiry."""
	client = runtime.redis_client()
	counter = rate_limits.counter_key("edge", USER, PLAYER)
	stop = time.monotonic() + 3.5
	without_ttl: list[int] = []

	def hammer():
		while time.monotonic() < stop:
			rate_limits.count("edge", USER, PLAYER, 10**9, 1)

	def watch():
		while time.monotonic() < stop:
			if client.ttl(counter) == -1:
				without_ttl.append(1)

	threads = [threading.Thread(target=hammer) for _ in range(8)] + [threading.Thread(target=watch)]
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join()
	assert without_ttl == []
	assert client.ttl(counter) in (-2, 0, 1)


def test_forgetting_a_person_deletes_every_counter_kept_for_them():
	for scope in ("reviews", "fan-writes"):
		rate_limits.count(scope, USER, PLAYER, 5, 60)
		rate_limits.count(scope, PLAYER, PLAYER, 5, 60)
		rate_limits.count(scope, USER, OTHER, 5, 60)
	other_family = runtime.key("fan", "scope", pseudonym(PLAYER), "x")
	runtime.redis_client().set(other_family, 1)
	assert rate_limits.forget(PLAYER.upper()) == 4
	assert runtime.redis_client().exists(other_family), "only rate-limit counters are forgotten"
	assert rate_limits.count("reviews", USER, PLAYER, 5, 60).calls == 1
	assert rate_limits.count("reviews", USER, OTHER, 5, 60).calls == 2
