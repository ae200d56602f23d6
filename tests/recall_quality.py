"""Recall quality on the labelled set (tests/data/recall_set.json): recall@5 and MRR of lexical only,
semantic only and hybrid ranking, over the same indexes. Used by the quality test and by
`python -m tests.recall_quality`, which prints the table docs/benchmarks.md quotes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from memora.services.fan_memory import embedding, recall

SET_PATH = Path(__file__).parent / "data" / "recall_set.json"
NOW = datetime(2026, 6, 1, 12, 0)
CUTOFF = 5
MODES = ("lexical", "semantic", "hybrid")


def labelled_set() -> dict:
	return json.loads(SET_PATH.read_text())


def fan_index(fan: dict) -> recall.RecallIndex:
	"""A RecallIndex of one fan's messages, embedded the way the job does it."""
	messages = fan["messages"]
	vectors = embedding.embed([m["text"] for m in messages])
	index = recall.RecallIndex(NOW, 1)
	index.merge(
		[
			{
				"name": m["id"],
				"content": m["text"],
				"interaction_type": "message",
				"timestamp": NOW - timedelta(days=m["days_ago"]),
				"modified": NOW,
				"embedding": embedding.pack(vector),
				"embedding_model": embedding.MODEL_ID,
			}
			for m, vector in zip(messages, vectors, strict=True)
		]
	)
	return index


def evaluate(weights: recall.Weights) -> dict[str, dict]:
	"""{mode: {recall_at_5, mrr, queries}} overall and per query kind, as fractions."""
	totals: dict[str, dict[str, list[float]]] = {}
	now = NOW.timestamp()
	for fan in labelled_set()["fans"]:
		index = fan_index(fan)
		queries = fan["queries"]
		query_vectors = embedding.embed([q["query"] for q in queries])
		for query, vector in zip(queries, query_vectors, strict=True):
			for mode in MODES:
				mode_weights = replace(weights, semantic=1.0) if mode == "semantic" else weights
				hits = recall.rank(
					index, query["query"], None if mode == "lexical" else vector, now, CUTOFF, mode_weights
				)
				found = [hit["id"] for hit in hits]
				relevant = query["relevant"]
				ranks = [found.index(r) + 1 for r in relevant if r in found]
				for group in ("all", query["kind"]):
					scores = totals.setdefault(mode, {}).setdefault(group, [])
					scores.append((len(ranks) / len(relevant), 1 / min(ranks) if ranks else 0.0))
	return {
		mode: {
			group: {
				"recall_at_5": sum(r for r, _ in pairs) / len(pairs),
				"mrr": sum(m for _, m in pairs) / len(pairs),
				"queries": len(pairs),
			}
			for group, pairs in groups.items()
		}
		for mode, groups in totals.items()
	}


def default_weights() -> recall.Weights:
	"""The Memora Settings defaults."""
	from memora import runtime

	settings = runtime.settings()
	return recall.Weights(
		settings.recall_semantic_weight, settings.recall_recency_weight, settings.recall_half_life_days
	)


if __name__ == "__main__":
	results = evaluate(default_weights())
	print(f"{'mode':10} {'kind':12} {'queries':>7} {'recall@5':>9} {'MRR':>6}")
	for mode, groups in results.items():
		for group, figures in sorted(groups.items()):
			print(
				f"{mode:10} {group:12} {figures['queries']:>7} {figures['recall_at_5']:>9.3f} {figures['mrr']:>6.3f}"
			)
