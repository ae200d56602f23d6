"""Recall: a pair's messages ranked by relevance to a query, by words (BM25) and by meaning
(embeddings), weighted toward recent ones. Pure: `vectors` loads the rows, `recall_cache` keeps the
index between calls.

Ranking (docs/fan-memory.md, "Recall"): each message gets a lexical score (BM25 divided by the best
one among the pair's messages, so the best is 1) and a semantic score (cosine similarity rescaled so
SEMANTIC_FLOOR is 0 and the best message's is 1, or SEMANTIC_CLEAR when no message is that close;
0 at or below the floor, and before the message is embedded). Both are relative to the best match,
so neither kind of evidence drowns the other, and a query nothing resembles lifts nothing by meaning.
Relevance is their weighted sum; the score is relevance x (1 - w + w x 2^(-age / half-life)), w the
recency weight, so recency reorders messages about equally relevant but never lifts an irrelevant
one. A message with relevance 0 is not returned.
"""

from __future__ import annotations

import binascii
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from memora import runtime
from memora.exceptions import MemoryValidationError
from memora.services.fan_memory import decay, embedding
from memora.services.fan_memory.lexical import Postings

# Cosine similarity of all-MiniLM-L6-v2 at or below which a message says nothing about the query
# (chosen on the labelled set, tests/data/recall_set.json; 0 and 0.15 score within a point of it).
SEMANTIC_FLOOR = 0.1
# A cosine from which a message is plainly about the query (tuned on the same set: 0.3 to 0.5 score
# within two points of each other).
SEMANTIC_CLEAR = 0.3
MAX_QUERY_LENGTH = 1000
MAX_TOP_K = 50
LEXICAL, SEMANTIC, BOTH = "lexical", "semantic", "both"


@dataclass(frozen=True)
class Weights:
	semantic: float
	recency: float
	half_life_days: float


def query_text(value: Any) -> str:
	if not isinstance(value, str) or not value.strip():
		raise MemoryValidationError("query", "must be a non-empty string")
	if len(value) > MAX_QUERY_LENGTH:
		raise MemoryValidationError("query", f"must be at most {MAX_QUERY_LENGTH} characters")
	return value.strip()


def top_k(value: Any) -> int:
	if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
		value = int(value)
	if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
		raise MemoryValidationError("top_k", f"must be an integer from 1 to {MAX_TOP_K}")
	return value


class RecallIndex:
	"""One pair's messages with text, their postings and their vectors (int8, a scale each), in the
	order they were loaded. `incarnation` (the Fan Memory row's `creation`) tells a pair erased and
	begun again from the one indexed; `high_water` is the newest row `modified` merged in."""

	def __init__(self, incarnation: datetime | None, version: int) -> None:
		self.incarnation = incarnation
		self.version = version
		self.high_water: datetime | None = None
		self.positions: dict[str, int] = {}
		self.rows: list[dict] = []
		self.timestamps: list[float] = []
		self.postings = Postings()
		self.vectors = np.zeros((0, embedding.DIMENSIONS), dtype=np.int8)
		self.scales = np.zeros(0, dtype=np.float32)

	def __len__(self) -> int:
		return len(self.rows)

	@property
	def pending(self) -> int:
		"""Messages not embedded (yet): found by their words only."""
		return int(np.count_nonzero(self.scales[: len(self.rows)] == 0))

	def merge(self, rows: list[dict]) -> None:
		"""Add new rows and take the vectors of known ones (a row's text never changes)."""
		for row in rows:
			position = self.positions.get(row["name"])
			if position is None:
				position = self._append(row)
			if row.get("embedding") and row.get("embedding_model") == embedding.MODEL_ID:
				self._take_vector(position, row)
			if self.high_water is None or row["modified"] > self.high_water:
				self.high_water = row["modified"]

	def _take_vector(self, position: int, row: dict) -> None:
		"""The row's stored vector; one that does not decode is logged and left out (the message is
		still found by its words) rather than failing every search of the pair."""
		try:
			self.vectors[position], self.scales[position] = embedding.unpack(row["embedding"])
		except (ValueError, binascii.Error):
			runtime.log("memory.recall_vector_unreadable", logging.WARNING, interaction=row["name"])

	def _append(self, row: dict) -> int:
		position = len(self.rows)
		if position == len(self.scales):
			capacity = max(16, 2 * position)
			self.vectors = np.resize(self.vectors, (capacity, embedding.DIMENSIONS))
			self.scales = np.resize(self.scales, capacity)
		self.vectors[position], self.scales[position] = 0, 0.0
		self.positions[row["name"]] = position
		self.rows.append(
			{
				"id": row["name"],
				"content": row["content"],
				"type": row["interaction_type"],
				"timestamp": row["timestamp"].isoformat(),
			}
		)
		self.timestamps.append(runtime.to_ts(row["timestamp"]))
		self.postings.add(row["content"])
		return position

	def cosines(self, query_vector: np.ndarray) -> np.ndarray:
		"""Cosine of every message with the query (0 for one not embedded)."""
		count = len(self.rows)
		return (self.vectors[:count] @ query_vector) * self.scales[:count]

	def nbytes(self) -> int:
		return self.vectors.nbytes + self.scales.nbytes


def rank(
	index: RecallIndex,
	query: str,
	query_vector: np.ndarray | None,
	now: float,
	limit: int,
	weights: Weights,
) -> list[dict]:
	"""The `limit` best messages for `query`, best first, each with why it matched."""
	if not len(index):
		return []
	lexical = index.postings.scores(query)
	if lexical.max() > 0:
		lexical = lexical / lexical.max()
	if query_vector is None:
		cosine = np.zeros(len(index), dtype=np.float32)
		relevance = lexical
	else:
		cosine = index.cosines(query_vector)
		best = max(float(cosine.max()), SEMANTIC_CLEAR)
		semantic = np.clip((cosine - SEMANTIC_FLOOR) / (best - SEMANTIC_FLOOR), 0, 1)
		relevance = (1 - weights.semantic) * lexical + weights.semantic * semantic
	age_days = np.maximum(now - np.asarray(index.timestamps), 0) / decay.DAY
	recency = np.exp2(-age_days / weights.half_life_days)
	scores = relevance * (1 - weights.recency + weights.recency * recency)
	relevant = np.flatnonzero(relevance > 0)
	best = relevant[np.argsort(-scores[relevant], kind="stable")[:limit]]
	return [_hit(index, i, scores[i], lexical[i], cosine[i]) for i in best]


def _hit(index: RecallIndex, position: int, score: float, lexical: float, cosine: float) -> dict:
	found_by_words, found_by_meaning = lexical > 0, cosine > SEMANTIC_FLOOR
	return {
		**index.rows[position],
		"score": round(float(score), 6),
		"matched": BOTH if found_by_words and found_by_meaning else LEXICAL if found_by_words else SEMANTIC,
		"lexical_score": round(float(lexical), 6),
		"semantic_score": round(float(cosine), 6),
	}
