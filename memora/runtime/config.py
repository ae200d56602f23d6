"""Memora Settings: typed and defaulted from the DocType JSON, read from the site inside a bench and
from MEMORA_<FIELD> environment variables outside."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from memora.runtime.site import DOCTYPE_ROOT, frappe_module, in_site

_settings_override: dict[str, Any] = {}
_lock = threading.Lock()


class Settings(dict):
	"""Memora Settings as attributes, typed and defaulted from the DocType JSON."""

	def __getattr__(self, name: str) -> Any:
		try:
			return self[name]
		except KeyError:
			raise AttributeError(name) from None


_CASTS: dict[str, Callable[[Any], Any]] = {
	"Int": lambda v: int(float(v)),
	"Check": lambda v: int(float(v)),
	"Float": float,
	"Percent": float,
	"Currency": float,
}


@cache
def settings_fields() -> tuple[dict, ...]:
	doc = json.loads((DOCTYPE_ROOT / "memora_settings" / "memora_settings.json").read_text())
	return tuple(f for f in doc["fields"] if f["fieldtype"] not in ("Section Break", "Column Break"))


def _coerce(field: dict, value: Any) -> Any:
	if value in (None, ""):
		value = field.get("default")
	if value in (None, ""):
		return 0 if field["fieldtype"] in _CASTS else None
	return _CASTS.get(field["fieldtype"], str)(value)


# How long a process reuses a site's typed settings. Building them from Frappe's cached document (a Redis
# read, two unpickles and as_dict) cost more than a whole review-session read; a saved change reaches the
# saving process at once (`forget_settings`) and every other worker within this many seconds.
SITE_SETTINGS_TTL = 10.0
_site_settings: dict[str, tuple[float, Settings]] = {}


def settings() -> Settings:
	"""Current settings: Memora Settings in a site; MEMORA_<FIELD> environment variables outside.
	Test overrides (see `override_settings`) win in both.

	Inside a site each process keeps the typed settings of a site for SITE_SETTINGS_TTL seconds."""
	if not in_site():
		source = {
			f["fieldname"]: os.environ.get("MEMORA_" + f["fieldname"].upper()) for f in settings_fields()
		}
		return _typed_settings(source)
	if _settings_override:
		return _typed_settings(frappe_module().get_cached_doc("Memora Settings").as_dict())
	site, now = frappe_module().local.site, time.monotonic()
	kept = _site_settings.get(site)
	if kept is None or kept[0] <= now:
		kept = (
			now + SITE_SETTINGS_TTL,
			_typed_settings(frappe_module().get_cached_doc("Memora Settings").as_dict()),
		)
		_site_settings[site] = kept
	return kept[1]


def _typed_settings(source: dict) -> Settings:
	source = {**source, **_settings_override}
	return Settings({f["fieldname"]: _coerce(f, source.get(f["fieldname"])) for f in settings_fields()})


def forget_settings() -> None:
	"""Drop this process's copy of the site's settings (after Memora Settings is saved)."""
	if in_site():
		_site_settings.pop(frappe_module().local.site, None)


@contextmanager
def override_settings(**values: Any) -> Iterator[None]:
	"""Temporarily change settings for this process (tests, benchmarks, the demo)."""
	unknown = set(values) - {f["fieldname"] for f in settings_fields()}
	if unknown:
		raise KeyError(f"Unknown Memora Settings fields: {sorted(unknown)}")
	with _lock:
		saved = dict(_settings_override)
		_settings_override.update(values)
	try:
		yield
	finally:
		with _lock:
			_settings_override.clear()
			_settings_override.update(saved)
