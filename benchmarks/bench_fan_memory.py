"""The fan memory service against the TypeScript service's documented figures.

At --scale 1: 100,000 fans x 50 interactions (5,000,000 Interaction rows), 100 fans per creator.
Each fan replays one of TEMPLATES behaviour templates (its own ids, the template's events), and the
template's Fan Memory row is computed by the service's own model code, so rows and interactions
agree without replaying five million events.

Baselines: the fast end of each documented TypeScript range (docs in ../shared/spec/000_*.txt),
and, where one exists, a same-run baseline (uncached vs cached, ten single reads vs one bulk read).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from pymysql.converters import escape_item

from benchmarks.harness import Context, Result, p50, percentile, throwaway_database
from memora import install, runtime
from memora.services import tables
from memora.services.fan_memory import cache, emotion, store, update
from memora.services.fan_memory.events import Interaction
from memora.services.user_memory_service import get_user_memory_service

FANS_AT_SCALE_1 = 100_000
INTERACTIONS_PER_FAN = 50
FANS_PER_CREATOR = 100
TEMPLATES = 100
ROWS_PER_INSERT = 2000
# The documented TypeScript figures (ms): the fast end of each range.
TS_CACHED_CONTEXT = 10.0
TS_FIRST_CONTEXT = 500.0
TS_SAVE = 100.0
TS_ENGAGEMENT_CACHED = 5.0
TS_BULK_UNCACHED = 1000.0
TS_BULK_CACHED = 100.0
TS_CLEAR = 200.0

MESSAGES = [
	"Loved today's beach set, when is the next one?",
	"Good morning! Coffee first 😅",
	"That outfit is amazing 😍😍",
	"Can you do a cosplay shoot next week?",
	"Honestly the last video was a bit disappointing",
	"Thanks for the reply, made my day",
	"What camera do you use for the gym clips?",
	"ok",
	"I had a terrible day at work, your posts help",
	"Happy birthday!! 🎉",
]
CATEGORIES = ["photos", "video", "cosplay", "fitness", "travel", "behind-the-scenes"]
KINDS = ["message"] * 10 + ["view"] * 5 + ["like"] * 3 + ["purchase"] + ["tip"]
APP_INTERACTION_KEYS = ("creator_fan_timestamp", "creator_fan_event")
# The Interaction columns every bulk load writes, in this order.
INTERACTION_COLUMNS = (
	"name",
	"creation",
	"modified",
	"fan_id",
	"creator_id",
	"event_id",
	"interaction_type",
	"timestamp",
	"amount",
	"sentiment",
	"content",
)


def fan_id(i: int) -> str:
	return f"fan-{i:06d}"


def creator_id(i: int) -> str:
	return f"creator-{i // FANS_PER_CREATOR:04d}"


def template_events(rng: random.Random, now: float) -> list[Interaction]:
	"""Fifty interactions over the last 60 days, oldest first (ids are filled in per fan)."""
	stamps = sorted(now - rng.uniform(0, 60 * 86400) for _ in range(INTERACTIONS_PER_FAN))
	events = []
	for j, ts in enumerate(stamps):
		kind = rng.choice(KINDS)
		events.append(
			Interaction(
				fan_id="",
				creator_id="",
				type=kind,
				ts=ts,
				event_id=f"e{j:02d}",
				content=rng.choice(MESSAGES) if kind == "message" else None,
				amount=round(rng.uniform(3, 50), 2) if kind in ("purchase", "tip") else None,
				metadata={"category": rng.choice(CATEGORIES)} if kind != "message" else None,
			)
		)
	return events


def template_row(events: list[Interaction]) -> dict:
	"""The Fan Memory row the service would hold after these events (ids aside)."""
	settings = runtime.settings()
	row = None
	for event in events:
		row = update.apply(row, event, emotion.sentiment(event.content) if event.content else None, settings)
	return row


def literal(value: object) -> str:
	return escape_item(value, "utf8mb4")


def insert_literal_rows(table: str, columns: tuple[str, ...], rows: list[str]) -> None:
	"""One multi-row INSERT of rows already written as SQL literals (escaping millions of values
	through the driver would take longer than the server takes to store them)."""
	runtime.db().sql(f"insert into {table} ({', '.join(f'`{c}`' for c in columns)}) values {', '.join(rows)}")


def drop_interaction_indexes() -> None:
	"""Bulk load: secondary indexes are built once at the end, by sorting, not row by row."""
	for index in (*APP_INTERACTION_KEYS, "modified"):
		runtime.db().sql_ddl(f"alter table {tables.INTERACTIONS} drop index `{index}`")


def restore_interaction_indexes() -> None:
	runtime.db().sql_ddl(f"alter table {tables.INTERACTIONS} add index `modified` (`modified`)")
	install.shape_tables("Interaction")


def load(fans: int) -> None:
	rng = random.Random(7)
	now = runtime.now_ts()
	created = literal(runtime.now())
	templates = [template_events(rng, now) for _ in range(TEMPLATES)]
	memory_values = [
		", ".join(
			literal(json.dumps(row[c]) if c in store.JSON_COLUMNS else row[c])
			for c in store.MEMORY_COLUMNS
			if c not in ("fan_id", "creator_id")
		)
		for row in (template_row(events) for events in templates)
	]
	event_values = [
		[
			(
				event.event_id,
				", ".join(
					literal(value)
					for value in (
						event.event_id,
						event.type,
						runtime.from_ts(event.ts),
						event.amount or 0,
						emotion.sentiment(event.content) if event.content else 0,
						event.content,
						json.dumps(event.metadata) if event.metadata else None,
					)
				),
			)
			for event in events
		]
		for events in templates
	]
	database = runtime.db()
	# Rows in primary-key order: names start with the pair's hash.
	order = sorted(range(fans), key=lambda i: store.pair_hash(fan_id(i), creator_id(i)))

	memory_columns = (
		"name",
		"creation",
		"fan_id",
		"creator_id",
		*(c for c in store.MEMORY_COLUMNS if c not in ("fan_id", "creator_id")),
	)
	for start in range(0, fans, ROWS_PER_INSERT):
		insert_literal_rows(
			tables.FAN_MEMORY,
			memory_columns,
			[
				f"({literal(store.memory_name(fan_id(i), creator_id(i)))}, {created}, "
				f"{literal(fan_id(i))}, {literal(creator_id(i))}, {memory_values[i % TEMPLATES]})"
				for i in order[start : start + ROWS_PER_INSERT]
			],
		)
	database.commit()

	drop_interaction_indexes()
	interaction_columns = (*INTERACTION_COLUMNS, "metadata")
	batch: list[str] = []
	for i in order:
		fan, creator = fan_id(i), creator_id(i)
		ids = f"{created}, {created}, {literal(fan)}, {literal(creator)}"
		rows = sorted(
			(store.interaction_name(fan, creator, event_id), values)
			for event_id, values in event_values[i % TEMPLATES]
		)
		batch.extend(f"('{name}', {ids}, {values})" for name, values in rows)
		if len(batch) >= ROWS_PER_INSERT:
			insert_literal_rows(tables.INTERACTIONS, interaction_columns, batch)
			batch = []
	if batch:
		insert_literal_rows(tables.INTERACTIONS, interaction_columns, batch)
	database.commit()
	restore_interaction_indexes()


def timed(func: Callable[[], object]) -> float:
	start = time.perf_counter()
	func()
	return (time.perf_counter() - start) * 1000


def result(
	metric: str,
	times: list[float],
	baseline: float,
	baseline_label: str,
	target_ms: float | None = None,
	notes: str = "",
) -> Result:
	value = p50(times)
	return Result(
		"fan_memory",
		metric,
		value,
		"ms",
		baseline=baseline,
		baseline_label=baseline_label,
		target=f"p50 <= {target_ms:g} ms" if target_ms is not None else "",
		passed=value <= target_ms if target_ms is not None else None,
		notes=notes,
		extra={"p95": percentile(times, 95), "samples": len(times)},
	)


def run(ctx: Context) -> list[Result]:
	fans = max(1000, int(FANS_AT_SCALE_1 * ctx.scale))
	rounds = 50 if ctx.quick else 300
	with throwaway_database("fan_memory"):
		started = time.perf_counter()
		load(fans)
		load_seconds = time.perf_counter() - started
		service = get_user_memory_service()
		rng = random.Random(11)
		untouched = rng.sample(range(fans), k=min(fans, rounds * 3 + rounds // 5 * 20 + 40))
		take = untouched.pop

		def context_of(i: int) -> Callable[[], object]:
			return lambda: service.get_memory_context(fan_id(i), creator_id(i))

		def engagement_of(i: int) -> Callable[[], object]:
			return lambda: service.get_engagement_score(fan_id(i), creator_id(i))

		for _ in range(20):  # warm-up: connections, VADER, script load
			context_of(take())()
		context_fans = [take() for _ in range(rounds)]
		uncached = [timed(context_of(i)) for i in context_fans]
		cached = [timed(context_of(i)) for i in context_fans * 3]

		engagement_fans = [take() for _ in range(rounds)]
		engagement_uncached = [timed(engagement_of(i)) for i in engagement_fans]
		engagement_cached = [timed(engagement_of(i)) for i in engagement_fans * 3]

		def group() -> list[int]:
			"""Ten untouched fans of one creator."""
			first = take() // FANS_PER_CREATOR * FANS_PER_CREATOR
			members = list(range(first, min(first + FANS_PER_CREATOR, fans)))
			return rng.sample(members, k=min(10, len(members)))

		def bulk_of(members: list[int]) -> Callable[[], object]:
			return lambda: service.get_memories_for_fans([fan_id(i) for i in members], creator_id(members[0]))

		def singles_of(members: list[int]) -> Callable[[], object]:
			return lambda: [service.get_memory_context(fan_id(i), creator_id(i)) for i in members]

		groups = [group() for _ in range(max(rounds // 5, 10))]
		bulk_uncached = [timed(bulk_of(members)) for members in groups]
		bulk_cached = [timed(bulk_of(members)) for members in groups]
		single_groups = [group() for _ in range(max(rounds // 5, 10))]
		singles_uncached = [timed(singles_of(members)) for members in single_groups]
		singles_cached = [timed(singles_of(members)) for members in single_groups]

		def save_one() -> object:
			i = rng.randrange(fans)
			kind = rng.choice(KINDS)
			return service.save_interaction(
				{
					"fan_id": fan_id(i),
					"creator_id": creator_id(i),
					"type": kind,
					"content": rng.choice(MESSAGES) if kind == "message" else None,
					"amount": 9.99 if kind in ("purchase", "tip") else None,
					"metadata": {"category": rng.choice(CATEGORIES)},
				}
			)

		saves = [timed(save_one) for _ in range(rounds)]
		cache.drain()
		clears = [
			timed(lambda i=i: service.clear_memory(fan_id(i), creator_id(i))) for i in context_fans[:50]
		]

	size = f"{fans:,} fans x {INTERACTIONS_PER_FAN}"
	return [
		result(
			f"get_memory_context cached p50 ({size})",
			cached,
			TS_CACHED_CONTEXT,
			"TypeScript doc, cached 10-50 ms",
			1,
		),
		result(
			"get_memory_context cached vs uncached (same run)",
			cached,
			p50(uncached),
			"uncached, same run",
		),
		result(
			f"get_memory_context uncached p50 ({size})",
			uncached,
			TS_FIRST_CONTEXT,
			"TypeScript doc, first request 500-2000 ms",
			10,
			notes=f"load took {load_seconds:.0f} s",
		),
		result("save_interaction p50", saves, TS_SAVE, "TypeScript doc, 100-500 ms", 5),
		result(
			"get_engagement_score cached p50",
			engagement_cached,
			TS_ENGAGEMENT_CACHED,
			"TypeScript doc, cached 5-20 ms",
			0.5,
		),
		result(
			"get_engagement_score cached vs uncached (same run)",
			engagement_cached,
			p50(engagement_uncached),
			"uncached, same run",
		),
		result(
			"get_memories_for_fans(10) uncached p50",
			bulk_uncached,
			TS_BULK_UNCACHED,
			"TypeScript doc, 1000-3000 ms",
			30,
		),
		result(
			"get_memories_for_fans(10) uncached vs 10 single reads (same run)",
			bulk_uncached,
			p50(singles_uncached),
			"10 uncached get_memory_context, same run",
		),
		result(
			"get_memories_for_fans(10) cached p50",
			bulk_cached,
			TS_BULK_CACHED,
			"TypeScript doc, 100-500 ms",
			3,
		),
		result(
			"get_memories_for_fans(10) cached vs 10 single reads (same run)",
			bulk_cached,
			p50(singles_cached),
			"10 cached get_memory_context, same run",
		),
		result("clear_memory p50 (50 interactions)", clears, TS_CLEAR, "TypeScript doc, 200-1000 ms"),
	]
