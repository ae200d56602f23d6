"""UserMemoryService: what an AI chat assistant remembers about one fan of one creator.

A Python port of the TypeScript fan memory service (same operations, shapes and semantics, in
snake_case). Reads are cache-first and degrade to defaults instead of failing when MariaDB is slow
or down; a save updates every model in one transaction and is retried on transient failures
without ever counting twice; `clear_memory` is the GDPR erase. Models and formulas:
docs/fan-memory.md.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis
from tenacity import Retrying

from memora import runtime
from memora.runtime import Settings
from memora.services import metrics, retry
from memora.services.batches import batched
from memora.services.erasure import entry
from memora.services.erasure.receipt import Receipt
from memora.services.fan_memory import (
	cache,
	context,
	decay,
	embedding,
	emotion,
	engagement,
	events,
	operation,
	recall,
	recall_cache,
	store,
	update,
	vectors,
)
from memora.services.pseudonym import pseudonym

# Cache names in the metrics.
CONTEXT_CACHE = "memory_context"
ENGAGEMENT_CACHE = "engagement"


class _PairCreated(Exception):
	"""A concurrent first save created the pair's row; retrying finds the row and updates it."""


def _retryable(exc: BaseException) -> bool:
	return isinstance(exc, _PairCreated) or runtime.is_transient_db_error(exc)


def _retrying(operation: str) -> Retrying:
	"""The TypeScript service's policy: 3 attempts, 100 ms then 200 ms apart (x2, at most 2 s), each
	delay plus up to 30%."""
	return retry.waited_on(operation, "memory.retry", _retryable)


class UserMemoryService:
	"""Fan memory for AI personalisation. Stateless: get one with `get_user_memory_service()`."""

	# --- reads ---------------------------------------------------------------------------------

	def get_memory_context(
		self, fan_id: str, creator_id: str, query: str | None = None, top_k: int = 5
	) -> dict:
		"""The MemoryContext of a fan: from the cache, else from MariaDB (then cached). A fan never
		seen gets the defaults; a database failure gives defaults flagged `degraded` (not cached).
		With a `query`, also `relevant_memories`: what `search_memories` answers for it."""
		with operation.run("get_memory_context") as fields:
			fan_id, creator_id = events.pair(fan_id, creator_id)
			if query is not None:
				query, top_k = recall.query_text(query), recall.top_k(top_k)
			fields.update(fan_id=fan_id, creator_id=creator_id)
			built = self._contexts(creator_id, [fan_id], fields)[fan_id]
			if query is None:
				return built
			return {**built, "relevant_memories": self._recall(fan_id, creator_id, query, top_k, fields)}

	def search_memories(self, fan_id: str, creator_id: str, query: str, top_k: int = 5) -> dict:
		"""The fan's messages (and other interactions with text) most relevant to `query`, best first:
		{query, mode ("hybrid", or "lexical" when the model is not installed), results: [{id, content,
		type, timestamp, score, matched ("lexical", "semantic" or "both"), lexical_score,
		semantic_score}], not_embedded (messages found by their words only, until the embedding job
		has run), degraded}. Ranking: docs/fan-memory.md."""
		with operation.run("search_memories") as fields:
			fan_id, creator_id = events.pair(fan_id, creator_id)
			query, top_k = recall.query_text(query), recall.top_k(top_k)
			fields.update(fan_id=fan_id, creator_id=creator_id, top_k=top_k)
			return self._recall(fan_id, creator_id, query, top_k, fields)

	def get_memories_for_fans(self, fan_ids: list[str], creator_id: str) -> dict[str, dict]:
		"""MemoryContexts of many fans of one creator, by fan id in the order asked: one pipelined
		cache read for all, then MariaDB for the misses in batches of `bulk_batch_size`. An id that is
		not valid gets {error_type, field, message} instead of a context; the others are answered."""
		with operation.run("get_memories_for_fans") as fields:
			creator_id = events.party_id(creator_id, "creator_id")
			valid, refused = events.fan_ids(fan_ids)
			fields.update(creator_id=creator_id, fans=len(valid), refused=len(refused))
			contexts = self._contexts(creator_id, valid, fields) if valid else {}
			return {**contexts, **{fan_id: operation.refusal(e) for fan_id, e in refused.items()}}

	def get_engagement_score(self, fan_id: str, creator_id: str) -> float:
		"""Engagement in [0, 1] as of now (0.5 for a fan never seen, or when MariaDB cannot say)."""
		with operation.run("get_engagement_score") as fields:
			fan_id, creator_id = events.pair(fan_id, creator_id)
			fields.update(fan_id=fan_id, creator_id=creator_id)
			key = cache.engagement_key(fan_id, creator_id)
			client = runtime.redis_client()
			cached = self._cache_read(client, [key], fields)[0]
			metrics.cache_lookup(ENGAGEMENT_CACHE, hit=cached is not None)
			fields["cache"] = "hit" if cached is not None else "miss"
			if cached is not None:
				return float(cached)
			settings = runtime.settings()
			rows, complete = operation.read_step(
				"engagement", fields, store.fetch_memories, creator_id, [fan_id], settings.profile_timeout
			)
			row = rows.get(fan_id.lower()) or update.blank_row(fan_id, creator_id)
			score = context.engagement_score(
				row, runtime.now_ts(), settings.engagement_half_life_days * decay.DAY
			)
			if complete:
				self._cache_write(
					client,
					[(key, cache.version(row["modified"]), repr(score))],
					settings.engagement_cache_ttl,
					fields,
				)
			return score

	def get_memory_stats(self, creator_id: str) -> dict:
		"""Totals over a creator's fans: {total_fans, fans_with_memory (fans who sent a message),
		total_messages, total_interactions, avg_engagement_score (as of now), calibrated_profiles,
		last_updated}."""
		with operation.run("get_memory_stats") as fields:
			creator_id = events.party_id(creator_id, "creator_id")
			fields["creator_id"] = creator_id
			half_life = runtime.settings().engagement_half_life_days * decay.DAY
			try:
				row = store.creator_stats(creator_id, runtime.now(), half_life)
			except Exception as e:
				if not runtime.is_db_error(e):
					raise
				raise operation.failure(e, "get_memory_stats", creator_id=creator_id) from e
			average = row["avg_engagement_score"]
			return {
				"total_fans": int(row["total_fans"]),
				"fans_with_memory": int(row["fans_with_memory"]),
				"total_messages": int(row["total_messages"]),
				"total_interactions": int(row["total_interactions"]),
				"avg_engagement_score": round(float(average), 6) if average is not None else engagement.PRIOR,
				"calibrated_profiles": int(row["calibrated_profiles"]),
				"last_updated": row["last_updated"].isoformat() if row["last_updated"] else None,
			}

	# --- writes --------------------------------------------------------------------------------

	def save_interaction(self, event: dict) -> dict:
		"""Store an interaction and fold it into the pair's memory in one transaction; the caches
		are invalidated in the background. Returns {interaction_id, event_id, duplicate}: a repeated
		event_id is stored and counted once."""
		with operation.run("save_interaction") as fields:
			interaction = events.parse(event, runtime.now_ts())
			ids = {"fan_id": interaction.fan_id, "creator_id": interaction.creator_id}
			fields.update(ids, type=interaction.type, event_id=interaction.event_id)
			sentiment = emotion.sentiment(interaction.content) if interaction.content else None
			settings = runtime.settings()
			try:
				modified, duplicate = _retrying("memory.save_interaction")(
					self._store, interaction, sentiment, settings
				)
			except Exception as e:
				if not (runtime.is_db_error(e) or isinstance(e, _PairCreated)):
					raise
				raise operation.failure(e, "save_interaction", **ids) from e
			# Also after a duplicate: the first attempt may have committed without our hearing of it.
			cache.invalidate_later(
				cache.pair_keys(interaction.fan_id, interaction.creator_id),
				cache.version(modified),
				cache.tombstone_ttl(settings),
			)
			fields["duplicate"] = duplicate
			if interaction.content and not duplicate:
				vectors.request_embedding()
			return {
				"interaction_id": store.interaction_name(
					interaction.fan_id, interaction.creator_id, interaction.event_id
				),
				"event_id": interaction.event_id,
				"duplicate": duplicate,
			}

	def clear_memory(self, fan_id: str, creator_id: str, requested_by: str | None = None) -> dict:
		"""GDPR erase of the pair: its interactions, Fan Memory row (with every derived model) and
		audit rows in one transaction with a Memora Erasure entry (kind pair), then its cache entries.
		Irreversible; other pairs untouched (`erasure.fan.erase_fan` erases a fan with every creator).
		Returns {"deleted": rows per DocType} and the receipt (erasure, subject, rows, keys, redacted);
		the pair appears in logs and the entry only as its pseudonym, the receipt's subject."""
		with operation.run("clear_memory") as fields:
			fan_id, creator_id = events.pair(fan_id, creator_id)
			subject = pseudonym(fan_id, creator_id)
			fields["subject"] = subject
			try:
				receipt, modified = _retrying("memory.clear_memory")(
					self._erase, fan_id, creator_id, subject, requested_by
				)
			except Exception as e:
				if not runtime.is_db_error(e):
					raise
				raise operation.failure(e, "clear_memory", subject=subject) from e
			fields["deleted"] = dict(receipt.rows)
			tombstone = cache.version(update.next_modified(modified, runtime.now()))
			keys = cache.pair_keys(fan_id, creator_id)
			try:
				cache.put_many(
					runtime.redis_client(),
					[(key, tombstone, "") for key in keys],
					cache.tombstone_ttl(runtime.settings()),
				)
			except redis.RedisError as e:
				raise operation.cache_left(e, "clear_memory", subject) from e
			receipt.keys[cache.FAMILY] += len(keys)
			recall_cache.forget(fan_id, creator_id)
			entry.set_receipt(receipt)
			runtime.db().commit()
			return {"deleted": dict(receipt.rows), **receipt.as_dict()}

	# --- internals -----------------------------------------------------------------------------

	def _store(self, event: events.Interaction, sentiment: float | None, settings: Settings):
		"""One attempt of a save: (the row's new `modified`, False), or (its current one, True)
		when this event is already stored. All or nothing."""
		timeout = settings.profile_timeout
		try:
			row = store.lock_memory(event.fan_id, event.creator_id, timeout)
			new = update.apply(row, event, sentiment, settings)
			if not store.insert_interaction(event, sentiment, new["modified"], timeout):
				runtime.reset_db_after_error()
				return (row["modified"] if row else None), True
			if row is None:
				self._insert_memory(new, timeout)
			else:
				store.update_memory(new, timeout)
			runtime.db().commit()
		except BaseException:
			runtime.reset_db_after_error()
			raise
		return new["modified"], False

	@staticmethod
	def _insert_memory(row: dict, timeout: float) -> None:
		try:
			store.insert_memory(row, timeout)
		except Exception as e:
			if runtime.is_duplicate_entry(e):
				raise _PairCreated from e
			raise

	@staticmethod
	def _erase(
		fan_id: str, creator_id: str, subject: str, requested_by: str | None
	) -> tuple[Receipt, datetime | None]:
		"""One transaction: the erasure's entry, then the pair's rows."""
		try:
			name = entry.record(entry.PAIR, subject, fan_id, requested_by, runtime.now())
			receipt = Receipt(name, subject)
			deleted, modified = store.erase_pair(fan_id, creator_id)
			receipt.rows.update(deleted)
			entry.set_receipt(receipt)
			runtime.db().commit()
		except BaseException:
			runtime.reset_db_after_error()
			raise
		return receipt, modified

	@staticmethod
	def _recall(fan_id: str, creator_id: str, query: str, top_k: int, fields: dict) -> dict:
		"""One search: the query embedded (when the model is installed), the pair's index brought up
		to date, the ranking; no results, flagged `degraded`, when MariaDB cannot be read."""
		settings = runtime.settings()
		query_vector = _query_vector(query)
		held, complete = operation.read_step(
			"recall", fields, recall_cache.searching, fan_id, creator_id, settings, fields
		)
		answer = {
			"query": query,
			"mode": "lexical" if query_vector is None else "hybrid",
			"results": [],
			"not_embedded": 0,
			"degraded": not complete,
		}
		if not complete:
			return answer
		try:
			weights = recall.Weights(
				settings.recall_semantic_weight,
				settings.recall_recency_weight,
				settings.recall_half_life_days,
			)
			answer["results"] = recall.rank(held.index, query, query_vector, runtime.now_ts(), top_k, weights)
			answer["not_embedded"] = held.index.pending if query_vector is not None else len(held.index)
		finally:
			held.lock.release()
		fields.update(mode=answer["mode"], results=len(answer["results"]))
		return answer

	def _contexts(self, creator_id: str, fan_ids: list[str], fields: dict) -> dict[str, dict]:
		client = runtime.redis_client()
		keys = [cache.context_key(fan_id, creator_id) for fan_id in fan_ids]
		found = {
			fan_id: json.loads(payload)
			for fan_id, payload in zip(fan_ids, self._cache_read(client, keys, fields), strict=True)
			if payload is not None
		}
		missing = [fan_id for fan_id in fan_ids if fan_id not in found]
		fields.update(cache_hits=len(found), cache_misses=len(missing))
		operation.count_lookups(CONTEXT_CACHE, hits=len(found), misses=len(missing))
		if not missing:
			return found
		settings = runtime.settings()
		for batch in batched(missing, settings.bulk_batch_size):
			loaded = self._load_contexts(creator_id, batch, settings, fields)
			found.update({fan_id: built for fan_id, (built, _) in loaded.items()})
			self._cache_write(
				client,
				[
					(cache.context_key(fan_id, creator_id), entry_version, json.dumps(built))
					for fan_id, (built, entry_version) in loaded.items()
					if entry_version is not None
				],
				settings.context_cache_ttl,
				fields,
			)
		return {fan_id: found[fan_id] for fan_id in fan_ids}

	@staticmethod
	def _load_contexts(
		creator_id: str, fan_ids: list[str], settings: Settings, fields: dict
	) -> dict[str, tuple[dict, int | None]]:
		"""Contexts from MariaDB in two bounded round trips, with the version to cache each under
		(None when degraded: defaults are never cached). The rows are read before the messages, so
		a version never claims newer data than the context holds."""
		rows, rows_complete = operation.read_step(
			"profile", fields, store.fetch_memories, creator_id, fan_ids, settings.profile_timeout
		)
		messages, messages_complete = operation.read_step(
			"recent_messages",
			fields,
			store.fetch_recent_messages,
			creator_id,
			fan_ids,
			settings.recent_messages_limit,
			settings.recent_messages_timeout,
		)
		degraded = not (rows_complete and messages_complete)
		now = runtime.now_ts()
		loaded = {}
		for fan_id in fan_ids:
			row = rows.get(fan_id.lower())
			built = context.build(
				fan_id, creator_id, row, messages.get(fan_id.lower(), []), now, settings, degraded
			)
			loaded[fan_id] = (built, None if degraded else cache.version(row and row["modified"]))
		return loaded

	@staticmethod
	def _cache_read(client: redis.Redis, keys: list[str], fields: dict) -> list[str | None]:
		"""Cached payloads (None = miss); with Redis down every key is a miss and writes are skipped."""
		try:
			return cache.get_many(client, keys)
		except redis.RedisError as e:
			operation.cache_failed("memory.cache_read_failed", e, fields)
			return [None] * len(keys)

	@staticmethod
	def _cache_write(
		client: redis.Redis, entries: list[tuple[str, int, str]], ttl: int, fields: dict
	) -> None:
		if not entries or "cache_error" in fields:
			return
		try:
			cache.put_many(client, entries, ttl)
		except redis.RedisError as e:
			operation.cache_failed("memory.cache_write_failed", e, fields)


def _query_vector(query: str):
	"""The query's embedding; None without the model, or when it fails (then recall ranks by words
	and says so, rather than failing the call)."""
	if not embedding.available():
		return None
	try:
		return embedding.embed([query])[0]
	except Exception as e:
		runtime.log("memory.recall_model_failed", logging.ERROR, error=type(e).__name__)
		return None


_service: UserMemoryService | None = None


def get_user_memory_service() -> UserMemoryService:
	"""The process's service (it holds no state of its own, so one is enough)."""
	global _service
	if _service is None:
		_service = UserMemoryService()
	return _service
