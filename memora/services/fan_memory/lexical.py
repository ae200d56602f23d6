"""BM25 over one pair's messages, kept as postings that grow message by message.

A chat appends a message, then asks for recall: rebuilding a whole index per message is what rules
out the libraries measured (`bm25s` takes 80 ms to index 5,000 messages; docs/fan-memory.md). Here a
new message costs its own words, and scoring reads only the postings of the query's words.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import numpy as np

# Okapi BM25's usual constants (Lucene's defaults).
K1 = 1.2
B = 0.75

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that say nothing about what a message is about; a query made only of them matches nothing.
STOPWORDS = frozenset(
	"""a about above after again all also am an and any are as at be because been before being below
	between both but by can could did do does doing down during each few for from further had has have
	having he her here hers herself him himself his how i if in into is it its itself just me more most
	my myself no nor not now of off on once only or other our ours ourselves out over own same she should
	so some such than that the their theirs them themselves then there these they this those through to
	too under until up very was we were what when where which while who whom why will with would you your
	yours yourself yourselves im ive dont didnt cant wont thats its youre whats""".split()
)


def stem(word: str) -> str:
	"""A light plural and possessive fold, so "dogs" finds "dog" (no full stemmer: names must survive)."""
	if len(word) > 4 and word.endswith("ies"):
		return word[:-3] + "y"
	if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
		return word[:-1]
	return word


def terms(text: str) -> list[str]:
	"""The words of `text` that BM25 counts: lower case, without stop words, plurals folded."""
	words = (w for w in _WORD.findall(text.lower().replace("'", "").replace("\u2019", "")))
	return [stem(w) for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


class Postings:
	"""An inverted index over documents numbered 0, 1, 2, … in the order they are added."""

	def __init__(self) -> None:
		self.index: dict[str, list[tuple[int, int]]] = defaultdict(list)
		self.lengths: list[int] = []

	def __len__(self) -> int:
		return len(self.lengths)

	def add(self, text: str) -> None:
		document = len(self.lengths)
		counts = Counter(terms(text))
		for term, frequency in counts.items():
			self.index[term].append((document, frequency))
		self.lengths.append(sum(counts.values()))

	def scores(self, query: str) -> np.ndarray:
		"""BM25 of every document for `query` (0 where no query word occurs)."""
		scores = np.zeros(len(self.lengths), dtype=np.float32)
		if not self.lengths:
			return scores
		average = max(sum(self.lengths) / len(self.lengths), 1.0)
		lengths = np.asarray(self.lengths, dtype=np.float32)
		for term in set(terms(query)):
			postings = self.index.get(term)
			if not postings:
				continue
			documents, frequencies = (np.asarray(column) for column in zip(*postings, strict=True))
			idf = math.log(1 + (len(self.lengths) - len(postings) + 0.5) / (len(postings) + 0.5))
			norm = K1 * (1 - B + B * lengths[documents] / average)
			scores[documents] += idf * frequencies * (K1 + 1) / (frequencies + norm)
		return scores
