# Copyright (c) 2026, Memora contributors
# For license information, please see license.txt
"""Every trace Memora keeps of anyone: each row of each Memora table and each Redis key under the site's
prefix, as comparable facts, for the erasure tests (on a site and standalone) to search for an id."""

from __future__ import annotations

from memora import runtime, schema

Fact = tuple[str, ...]


def table_facts() -> set[Fact]:
	"""Every row of every Memora table, each column cast to text."""
	database = runtime.db()
	database.rollback()
	facts = set()
	for doctype in schema.table_doctypes():
		table = schema.table_name(doctype)
		columns = [row[0] for row in database.sql(f"show columns from `{table}`")]
		casts = ", ".join(f"cast(`{c}` as char)" for c in columns)
		for row in database.sql(f"select {casts} from `{table}`"):
			facts.add((doctype, *(f"{c}={v}" for c, v in zip(columns, row, strict=True))))
	return facts


def key_facts(client, pattern: str) -> set[Fact]:
	"""Every key matching `pattern`, by name and by each part of its value."""
	facts = set()
	for raw in client.scan_iter(match=pattern, count=1000):
		name = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
		kind = client.type(raw)
		kind = kind.decode() if isinstance(kind, bytes) else kind
		if kind == "string":
			parts = [("", client.get(raw))]
		elif kind == "hash":
			parts = list(client.hgetall(raw).items())
		elif kind == "set":
			parts = [(member, "") for member in client.smembers(raw)]
		elif kind == "zset":
			parts = client.zrange(raw, 0, -1, withscores=True)
		elif kind == "list":
			parts = [(str(i), v) for i, v in enumerate(client.lrange(raw, 0, -1))]
		else:
			parts = [("", kind)]
		for field, value in parts:
			# Frappe's own keys under the prefix hold pickles: their text parts still show an id.
			decoded = [p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in (field, value)]
			facts.add(("redis", name, *decoded))
	return facts


def names(fact: Fact, *ids: str) -> bool:
	"""The fact holds every one of `ids` in clear, in any case."""
	text = "\0".join(fact).lower()
	return all(i.lower() in text for i in ids)
