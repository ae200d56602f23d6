"""Fan memory recall: search_memories at 5,000 messages for the pair and 100,000 pairs in the
Interaction table (at --scale 1), against a same-run `LIKE '%term%'` scan of the pair's rows and a
MariaDB FULLTEXT search; the embedding job's throughput; memory per 1,000 indexed messages.

The pair's messages go through the real save path and the real embedding job; the other pairs' rows
(five messages each, already embedded) are bulk inserted. Searches are timed through the service,
query embedding included: warm (the process holds the pair's index), right after a save (the index
takes the new row), and cold (a process that never searched the pair).
"""

from __future__ import annotations

import itertools
import random
import time
import tracemalloc

from benchmarks.bench_fan_memory import (
	INTERACTION_COLUMNS,
	creator_id,
	fan_id,
	insert_literal_rows,
	literal,
)
from benchmarks.harness import Context, Result, p50, percentile, sample, throwaway_database
from memora import runtime
from memora.services import tables
from memora.services.fan_memory import cache, embedding, recall, recall_cache, store, vectors
from memora.services.user_memory_service import get_user_memory_service

PAIRS_AT_SCALE_1 = 100_000
MESSAGES_PER_PAIR = 5
PAIR_MESSAGES_AT_SCALE_1 = 5_000
ROWS_PER_INSERT = 2000
TARGET_P50_MS, TARGET_P99_MS = 25, 60
FAN, CREATOR = "fan-recall", "creator-recall"
EVENT_NUMBERS = itertools.count()

PETS = ("dog", "cat", "parrot", "hamster", "rabbit", "corgi", "kitten")
NAMES = ("Biscuit", "Mochi", "Pretzel", "Luna", "Ziggy", "Nacho", "Olive", "Waffles", "Pixel")
CITIES = ("Lisbon", "Porto", "Berlin", "Osaka", "Austin", "Leeds", "Bergen", "Quito")
FOODS = ("ramen", "tacos", "sushi", "pizza", "falafel", "curry", "pho", "dumplings")
HOBBIES = ("guitar", "climbing", "chess", "knitting", "surfing", "baking", "running", "drawing")
TEMPLATES = (
	"my {pet} {name} did something silly again today",
	"thinking about moving to {city} next year",
	"had {food} for dinner, best thing ever",
	"started learning {hobby} this month, it's hard",
	"loved your stream, the {hobby} bit was great",
	"my sister lives in {city} and wants to meet you",
	"{name} says hi lol",
	"can't eat {food} anymore, doctor's orders",
	"good morning!! coffee first",
	"that outfit in the last video was amazing",
)
QUERIES = (
	"does the fan have a {pet}?",
	"{name}",
	"where does the fan want to live",
	"what food does the fan like",
	"fan's hobbies",
	"{city} trip",
	"what can't the fan eat",
	"family members of the fan",
)


def fill(template: str, rng: random.Random) -> str:
	return template.format(
		pet=rng.choice(PETS),
		name=rng.choice(NAMES),
		city=rng.choice(CITIES),
		food=rng.choice(FOODS),
		hobby=rng.choice(HOBBIES),
	)


def load_other_pairs(pairs: int, rng: random.Random) -> None:
	"""`pairs` x MESSAGES_PER_PAIR embedded messages of other pairs, in primary-key order."""
	packed = literal(embedding.pack(embedding.embed(["a message of another fan"])[0]))
	model, created = literal(embedding.MODEL_ID), literal(runtime.now())
	columns = (*INTERACTION_COLUMNS, "embedding_model", "embedding")
	batch: list[str] = []
	for i in sorted(range(pairs), key=lambda i: store.pair_hash(fan_id(i), creator_id(i))):
		fan, creator = fan_id(i), creator_id(i)
		for j in range(MESSAGES_PER_PAIR):
			text = literal(fill(rng.choice(TEMPLATES), rng))
			batch.append(
				f"({literal(store.interaction_name(fan, creator, f'e{j}'))}, {created}, {created}, "
				f"{literal(fan)}, {literal(creator)}, 'e{j}', 'message', {created}, 0, 0, {text}, "
				f"{model}, {packed})"
			)
		if len(batch) >= ROWS_PER_INSERT:
			insert_literal_rows(tables.INTERACTIONS, columns, batch)
			batch = []
	if batch:
		insert_literal_rows(tables.INTERACTIONS, columns, batch)
	runtime.db().commit()


def save_pair_messages(count: int, rng: random.Random) -> None:
	"""The measured pair's messages through the real save path, spread over the last 400 days."""
	service = get_user_memory_service()
	now = runtime.now_ts()
	for ts in sorted(now - rng.uniform(0, 400 * 86400) for _ in range(count)):
		service.save_interaction(
			{
				"fan_id": FAN,
				"creator_id": CREATOR,
				"type": "message",
				"content": fill(rng.choice(TEMPLATES), rng),
				"timestamp": ts,
				"event_id": f"m{next(EVENT_NUMBERS)}",
			}
		)
	cache.drain()


def like_scan(term: str) -> int:
	"""The baseline: what a search without an index does, a scan of the pair's rows for a word."""
	return len(
		runtime.db().sql(
			f"select name, content from {tables.INTERACTIONS} where creator_id = %s and fan_id = %s "
			"and content like %s order by `timestamp` desc limit 5",
			(CREATOR, FAN, f"%{term}%"),
		)
	)


def fulltext_search(query: str) -> int:
	return len(
		runtime.db().sql(
			f"select name, match(content) against (%s) as score from {tables.INTERACTIONS} "
			"where creator_id = %s and fan_id = %s and match(content) against (%s) "
			"order by score desc limit 5",
			(query, CREATOR, FAN, query),
		)
	)


def index_bytes_per_thousand(rows: list[dict]) -> float:
	"""Python heap held by an index of `rows`, per 1,000 messages (vectors, postings, texts)."""
	tracemalloc.start()
	before = tracemalloc.get_traced_memory()[0]
	index = recall.RecallIndex(runtime.now(), 1)
	index.merge(rows)
	held = tracemalloc.get_traced_memory()[0] - before
	tracemalloc.stop()
	return held / len(index) * 1000


def result(metric: str, times: list[float], **fields) -> Result:
	return Result(
		"recall",
		metric,
		p50(times),
		"ms",
		extra={"p99": percentile(times, 99), "samples": len(times)},
		**fields,
	)


def targeted(metric: str, times: list[float], like_p50: float, notes: str = "") -> Result:
	"""A search figure against the issue's targets and the same run's LIKE scan."""
	return result(
		metric,
		times,
		baseline=like_p50,
		baseline_label="LIKE '%term%' scan of the pair",
		target=f"p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms",
		passed=p50(times) <= TARGET_P50_MS and percentile(times, 99) <= TARGET_P99_MS,
		notes=notes,
	)


def run(ctx: Context) -> list[Result]:
	if not embedding.available():
		return [Result("recall", "skipped: the recall model is not installed", 0, "")]
	rng = random.Random(19)
	pairs = max(1000, int(PAIRS_AT_SCALE_1 * ctx.scale))
	pair_messages = max(500, int(PAIR_MESSAGES_AT_SCALE_1 * ctx.scale))
	rounds = 50 if ctx.quick else 400
	service = get_user_memory_service()
	results: list[Result] = []
	with throwaway_database("recall"):
		started = time.perf_counter()
		load_other_pairs(pairs - 1, rng)
		load_seconds = time.perf_counter() - started

		save_times = sample(
			lambda: save_pair_messages(1, rng), iterations=min(rounds, pair_messages), warmup=0
		)
		save_pair_messages(pair_messages - len(save_times), rng)
		started = time.perf_counter()
		embedded = vectors.embed_pending()
		embed_seconds = time.perf_counter() - started

		queries = [fill(rng.choice(QUERIES), rng) for _ in range(rounds)]
		terms = [max(q.rstrip("?").split(), key=len) for q in queries]
		cycle = itertools.count()

		def search() -> None:
			service.search_memories(FAN, CREATOR, queries[next(cycle) % len(queries)])

		warm = sample(search, rounds)
		like = sample(lambda: like_scan(terms[next(cycle) % len(terms)]), rounds)

		def after_save() -> None:
			save_pair_messages(1, rng)
			started = time.perf_counter()
			search()
			after_save_times.append((time.perf_counter() - started) * 1000)

		after_save_times: list[float] = []
		sample(after_save, max(rounds // 4, 20), warmup=2)
		after_save_times = after_save_times[2:]

		def cold() -> None:
			recall_cache.forget(FAN)
			search()

		cold_times = sample(cold, max(rounds // 20, 5), warmup=1)

		runtime.db().sql_ddl(
			f"alter table {tables.INTERACTIONS} add fulltext index `content_text` (`content`)"
		)
		fulltext = sample(lambda: fulltext_search(queries[next(cycle) % len(queries)]), rounds)
		rows = vectors.pair_rows(FAN, CREATOR, None, 30)
		per_thousand = index_bytes_per_thousand(rows)

	total_rows = (pairs - 1) * MESSAGES_PER_PAIR + len(rows)
	like_p50 = p50(like)
	results += [
		targeted(
			"search p50, warm (query embedding included)",
			warm,
			like_p50,
			notes=f"{len(rows):,} messages for the pair, {pairs:,} pairs, {total_rows:,} rows",
		),
		targeted("search p50, right after a save of the pair", after_save_times, like_p50),
		result(
			"search p50, cold (index loaded from MariaDB)",
			cold_times,
			baseline=like_p50,
			baseline_label="LIKE scan",
		),
		result(
			"MariaDB FULLTEXT (MATCH AGAINST, pair filter)",
			fulltext,
			baseline=p50(warm),
			baseline_label="recall warm",
		),
		result("LIKE '%term%' scan of the pair", like),
		result(
			"save_interaction p50 (asks for the embedding job)",
			save_times,
			target="p50 <= 5 ms",
			passed=p50(save_times) <= 5,
		),
		Result(
			"recall",
			"embedding job throughput",
			embedded / embed_seconds,
			"messages/s",
			notes=f"{embedded:,} messages, batches of {runtime.settings().recall_embed_batch_size}",
		),
		Result(
			"recall",
			"index memory per 1,000 messages",
			per_thousand / 1e6,
			"MB",
			notes="vectors int8 + postings + texts",
		),
		Result(
			"recall",
			"load of the other pairs' rows",
			load_seconds,
			"s",
			notes=f"{(pairs - 1) * MESSAGES_PER_PAIR:,} rows",
		),
	]
	return results
