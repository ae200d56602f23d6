"""Memora's data Redis: its URL, the per-site key namespace, and a client with short timeouts."""

from __future__ import annotations

import os
from functools import cache

import redis

from memora.runtime.config import Settings, settings
from memora.runtime.database import database_name
from memora.runtime.site import frappe_module, in_site


def redis_url(current: Settings | None = None) -> str:
	"""Memora Settings' override, else the site's redis_cache, else MEMORA_REDIS_URL."""
	override = (current or settings()).redis_url
	if override:
		return override
	if in_site():
		return frappe_module().conf.redis_cache
	return os.environ.get("MEMORA_REDIS_URL", "redis://127.0.0.1:6379/0")


def key_prefix() -> str:
	"""Per-site namespace, the same one `frappe.cache.make_key` applies (sorted-set commands are not
	auto-prefixed by Frappe's wrapper, so Memora prefixes every key itself)."""
	if in_site():
		return frappe_module().cache.make_key("").decode()
	return f"{database_name()}|"


def key(*parts: str) -> str:
	return key_prefix() + ":".join(parts)


@cache
def cached_client(url: str, timeout_ms: int, decode: bool) -> redis.Redis:
	return redis.Redis.from_url(
		url,
		decode_responses=decode,
		socket_timeout=timeout_ms / 1000,
		socket_connect_timeout=timeout_ms / 1000,
		health_check_interval=30,
	)


def redis_client(current: Settings | None = None) -> redis.Redis:
	"""Client for Memora's data (strings decoded) with short timeouts, so a stuck Redis is noticed fast.
	`current` saves reading the settings again when the caller holds them."""
	current = current or settings()
	return cached_client(redis_url(current), current.redis_socket_timeout_ms, True)
