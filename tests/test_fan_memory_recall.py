"""Recall on real MariaDB, Redis and RQ workers: what search_memories finds and in which order,
messages found by their words before the embedding job has run, the job in a real worker, the
index every process keeps equal to the database through saves, embeddings and erasure (a
Hypothesis state machine), refusals of bad input, and an install without the model."""

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from memora import runtime
from memora.exceptions import MemoryServiceException, MemoryValidationError
from memora.services.erasure import fan as erasure_fan
from memora.services.fan_memory import cache, embedding, recall, recall_cache, vectors
from memora.services.user_memory_service import get_user_memory_service
from tests import recall_quality
from tests.harness.workers import wait_until

service = get_user_memory_service()
pytestmark = pytest.mark.skipif(not embedding.available(), reason="the recall model is not installed")


def say(fan: str, creator: str, text: str, days_ago: float = 0, event_id: str | None = None) -> dict:
	return service.save_interaction(
		{
			"fan_id": fan,
			"creator_id": creator,
			"type": "message",
			"content": text,
			"timestamp": runtime.now_ts() - days_ago * 86400,
			"event_id": event_id,
		}
	)


def search(query: str, fan: str = "fan-1", creator: str = "creator-1", **options) -> dict:
	"""A search as a new request makes it: in a transaction of its own, which sees what other
	processes committed."""
	runtime.db().rollback()
	return service.search_memories(fan, creator, query, **options)


def contents(answer: dict) -> list[str]:
	return [hit["content"] for hit in answer["results"]]


def embed_all() -> None:
	vectors.embed_pending()
	cache.drain()


HISTORY = (
	("my golden retriever Biscuit chewed my shoes again", 200),
	("I'm vegetarian, no meat for me ever", 150),
	("we are relocating to Lisbon in the spring", 40),
	("lol that video made my day", 30),
	("your dog video was cute", 20),
	("hi!!", 1),
)


@pytest.fixture
def history():
	for number, (text, days_ago) in enumerate(HISTORY):
		say("fan-1", "creator-1", text, days_ago, event_id=f"h{number}")
	embed_all()


def test_a_name_is_found_by_its_word_and_a_paraphrase_by_its_meaning(history):
	by_name = search("Biscuit")
	assert contents(by_name)[0] == HISTORY[0][0]
	assert by_name["results"][0]["matched"] == "both" and by_name["mode"] == "hybrid"

	by_meaning = search("is the fan moving house?")
	assert contents(by_meaning)[0] == HISTORY[2][0]
	assert by_meaning["results"][0]["matched"] == "semantic"
	assert by_meaning["results"][0]["lexical_score"] == 0

	diet = search("what food does this fan avoid")
	assert contents(diet)[0] == HISTORY[1][0]


def test_results_are_best_first_and_at_most_top_k(history):
	answer = search("dog", top_k=2)
	assert len(answer["results"]) == 2
	scores = [hit["score"] for hit in answer["results"]]
	assert scores == sorted(scores, reverse=True)
	assert set(contents(answer)) <= {HISTORY[0][0], HISTORY[4][0]}


def test_recency_orders_messages_that_are_equally_relevant():
	say("fan-1", "creator-1", "my cat Mochi is sick", days_ago=300, event_id="old")
	say("fan-1", "creator-1", "my cat Mochi is sick", days_ago=2, event_id="new")
	embed_all()
	first, second = search("Mochi")["results"]
	assert first["timestamp"] > second["timestamp"] and first["score"] > second["score"]


def test_a_message_not_yet_embedded_is_found_by_its_words_and_counted(history):
	say("fan-1", "creator-1", "booked tickets for the Coldplay concert", event_id="late")
	cache.drain()
	answer = search("Coldplay")
	assert contents(answer)[0] == "booked tickets for the Coldplay concert"
	assert answer["results"][0]["matched"] == "lexical" and answer["not_embedded"] == 1
	assert all(hit["matched"] == "semantic" for hit in answer["results"][1:])
	assert search("going to see a band live")["results"][0]["content"] != contents(answer)[0]

	embed_all()
	answer = search("going to see a band live")
	assert contents(answer)[0] == "booked tickets for the Coldplay concert"
	assert answer["not_embedded"] == 0


def test_a_pair_sees_only_its_own_messages(history):
	say("fan-2", "creator-1", "Biscuit is my hamster", event_id="other-fan")
	say("fan-1", "creator-2", "Biscuit again", event_id="other-creator")
	embed_all()
	found = contents(search("Biscuit", top_k=50))
	assert found[0] == HISTORY[0][0] and len(found) <= len(HISTORY)
	assert not {"Biscuit is my hamster", "Biscuit again"} & set(found)
	assert search("Biscuit", fan="fan-3")["results"] == []


def test_a_saved_message_reaches_the_next_search_in_this_and_every_process(history, redis_client):
	search("Biscuit")
	say("fan-1", "creator-1", "my sister Ana gets married on the 14th of June", event_id="news")
	cache.drain()
	assert contents(search("Ana wedding"))[0].startswith("my sister Ana")
	# The entry in Redis vouches for the version this process holds: the next search is a hit.
	fields = {}
	held = recall_cache.searching("fan-1", "creator-1", runtime.settings(), fields)
	held.lock.release()
	assert fields["recall_cache"] == "hit"


def test_the_embedding_job_runs_in_a_real_worker_after_a_save(workers):
	workers("default")
	say("fan-1", "creator-1", "I play the cello in an orchestra", event_id="cello")
	assert wait_until(lambda: search("musical instrument")["not_embedded"] == 0, timeout=60)
	assert contents(search("musical instrument")) == ["I play the cello in an orchestra"]


def test_clear_memory_leaves_no_text_vector_or_index_of_the_pair(history, db, redis_client):
	assert search("Biscuit")["results"]
	service.clear_memory("fan-1", "creator-1")
	db.rollback()
	assert db.sql("select count(*) from `tabInteraction` where fan_id = 'fan-1'")[0][0] == 0
	assert recall_cache.forget("fan-1") == 0  # this process dropped its index at once
	raw = redis_client.get(cache.recall_key("fan-1", "creator-1"))
	assert raw.partition("|")[2] == ""  # a tombstone
	assert search("Biscuit")["results"] == []


def test_another_process_cannot_answer_from_an_index_of_an_erased_pair(history):
	assert search("Biscuit")["results"]
	# Another process's erasure: the rows and the entry change, this process's index stays.
	script = "from memora.services.erasure.fan import erase_fan; erase_fan('fan-1')"
	subprocess.run([sys.executable, "-c", script], check=True, env=os.environ.copy(), timeout=120)
	assert search("Biscuit")["results"] == []
	say("fan-1", "creator-1", "starting over", event_id="new-life")
	cache.drain()
	assert contents(search("starting over Biscuit")) == ["starting over"]


@pytest.mark.parametrize(
	("options", "field"),
	[
		({"query": ""}, "query"),
		({"query": "   "}, "query"),
		({"query": 42}, "query"),
		({"query": "x" * 1001}, "query"),
		({"query": "dog", "top_k": 0}, "top_k"),
		({"query": "dog", "top_k": 51}, "top_k"),
		({"query": "dog", "top_k": "five"}, "top_k"),
		({"query": "dog", "top_k": True}, "top_k"),
	],
)
def test_bad_input_is_refused_naming_the_field(options, field):
	with pytest.raises(MemoryValidationError) as refused:
		service.search_memories("fan-1", "creator-1", **options)
	assert refused.value.field == field
	with pytest.raises(MemoryValidationError) as refused:
		service.get_memory_context("fan-1", "creator-1", **options)
	assert refused.value.field == field


def test_the_context_carries_recall_only_when_asked(history):
	assert "relevant_memories" not in service.get_memory_context("fan-1", "creator-1")
	context = service.get_memory_context("fan-1", "creator-1", query="diet", top_k=1)
	assert contents(context["relevant_memories"]) == [HISTORY[1][0]]
	# The cached context itself never holds recall.
	assert "relevant_memories" not in service.get_memory_context("fan-1", "creator-1")


@pytest.mark.fault
def test_mariadb_down_gives_an_empty_degraded_answer(history, mariadb_proxy, monkeypatch):
	monkeypatch.setenv("MEMORA_DB_PORT", str(mariadb_proxy.port))
	recall_cache.forget("fan-1")
	mariadb_proxy.cut()
	try:
		answer = search("Biscuit")
	except MemoryServiceException:
		pytest.fail("a read must degrade, not fail")
	finally:
		mariadb_proxy.restore()
	assert answer["degraded"] and answer["results"] == []
	monkeypatch.undo()
	runtime.db().close()
	assert search("Biscuit")["results"]


def test_without_the_model_search_ranks_by_words_and_says_so(history):
	script = """
import json, sys
sys.modules["onnxruntime"] = None
from memora.services.fan_memory import embedding, vectors
from memora.services.user_memory_service import get_user_memory_service
from tests import recall_quality
from tests.harness.workers import wait_until
assert not embedding.available()
service = get_user_memory_service()
service.save_interaction({"fan_id": "fan-1", "creator_id": "creator-1", "type": "message",
	"content": "saved while the model was missing", "event_id": "no-model"})
print(json.dumps([service.search_memories("fan-1", "creator-1", "Biscuit"), vectors.embed_pending()]))
"""
	done = subprocess.run(
		[sys.executable, "-c", script],
		check=True,
		env=os.environ.copy(),
		capture_output=True,
		text=True,
		timeout=120,
	)
	answer, embedded = json.loads(done.stdout.strip().splitlines()[-1])
	assert answer["mode"] == "lexical" and embedded == 0
	assert [hit["matched"] for hit in answer["results"]] == ["lexical"]
	assert answer["results"][0]["content"] == HISTORY[0][0]
	# The model is back: the backfill embeds what was saved without it.
	runtime.db().rollback()
	assert vectors.backfill()["embedded"] == 1
	cache.drain()
	assert (
		contents(search("a message stored when something was absent"))[0]
		== "saved while the model was missing"
	)


# --- the index equals the database ---------------------------------------------------------------

PAIRS = (("fan-a", "creator-1"), ("fan-a", "creator-2"), ("fan-b", "creator-1"))
WORDS = ("Biscuit", "Lisbon", "pizza", "concert", "exam", "wedding", "guitar", "sister")


class RecallIndexMatchesTheDatabase(RuleBasedStateMachine):
	"""Whatever happens to a pair (messages saved, the embedding job, erasure of the pair or of the
	fan, cache entries lost), the index a search answers from holds exactly the pair's rows with text
	in MariaDB, with a vector exactly for those the job has embedded."""

	def __init__(self) -> None:
		super().__init__()
		clear_state()
		self.saved = 0

	@rule(pair=st.sampled_from(PAIRS), words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
	def save(self, pair, words):
		self.saved += 1
		say(*pair, " ".join(words), event_id=f"e{self.saved}")
		cache.drain()

	@rule(pair=st.sampled_from(PAIRS), kind=st.sampled_from(["like", "view"]))
	def save_without_text(self, pair, kind):
		self.saved += 1
		service.save_interaction(
			{"fan_id": pair[0], "creator_id": pair[1], "type": kind, "event_id": f"e{self.saved}"}
		)
		cache.drain()

	@rule(limit=st.integers(min_value=1, max_value=4))
	def embed(self, limit):
		vectors.embed_pending(limit=limit)
		cache.drain()

	@rule(pair=st.sampled_from(PAIRS), elsewhere=st.booleans())
	def clear_pair(self, pair, elsewhere):
		erased_by(elsewhere, service.clear_memory, *pair)

	@rule(
		pair=st.sampled_from(PAIRS),
		words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
		elsewhere=st.booleans(),
	)
	def erase_and_come_back(self, pair, words, elsewhere):
		"""The fan returns after an erasure: the pair's rows begin again, under a new Fan Memory row."""
		erased_by(elsewhere, service.clear_memory, *pair)
		self.save(pair, words)

	@rule(fan=st.sampled_from(["fan-a", "fan-b"]), elsewhere=st.booleans())
	def erase_fan(self, fan, elsewhere):
		erased_by(elsewhere, erasure_fan.erase_fan, fan)

	@rule(pair=st.sampled_from(PAIRS))
	def lose_the_entry(self, pair):
		runtime.redis_client().delete(cache.recall_key(*pair))

	@invariant()
	def every_index_equals_its_rows(self):
		runtime.db().rollback()
		for pair in PAIRS:
			held = recall_cache.searching(*pair, runtime.settings(), {})
			try:
				index = held.index
				indexed = {row["id"]: bool(index.scales[index.positions[row["id"]]]) for row in index.rows}
			finally:
				held.lock.release()
			rows = runtime.db().sql(
				"select name, embedding_model from `tabInteraction` "
				"where fan_id = %s and creator_id = %s and content > ''",
				pair,
			)
			assert indexed == {name: model == embedding.MODEL_ID for name, model in rows}, pair


def erased_by(another_process: bool, erase, *args) -> None:
	"""Erase here, or as another process would: this process's indexes are not dropped at once and
	must be turned away by the tombstones."""
	kept = dict(recall_cache._held) if another_process else {}
	erase(*args)
	recall_cache._held.update(kept)


def clear_state() -> None:
	from tests.conftest import clear_keys, clear_tables

	recall_cache.forget("fan-a")
	recall_cache.forget("fan-b")
	clear_tables()
	clear_keys()


# A fixed, bounded run in `make test`; the long run explores random programs:
# MEMORA_STATEFUL_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_fan_memory_recall.py -k state_machine
LONG_RUN = "MEMORA_STATEFUL_EXAMPLES" in os.environ


def test_the_recall_index_always_equals_the_database_state_machine():
	run_state_machine_as_test(
		RecallIndexMatchesTheDatabase,
		settings=settings(
			max_examples=int(os.environ.get("MEMORA_STATEFUL_EXAMPLES", "30")),
			stateful_step_count=int(os.environ.get("MEMORA_STATEFUL_STEPS", "25")),
			deadline=None,
			derandomize=not LONG_RUN,
			database=None,
			suppress_health_check=list(HealthCheck),
		),
	)


# --- quality on the labelled set ------------------------------------------------------------------


@pytest.mark.unit
def test_hybrid_ranking_beats_words_alone_and_loses_to_neither_on_the_labelled_set():
	"""180 queries over 12 synthetic fan histories (tests/data/recall_set.json): paraphrases, names,
	preferences, time-bound facts. `python -m tests.recall_quality` prints the whole table."""
	labelled = recall_quality.labelled_set()
	assert sum(len(fan["queries"]) for fan in labelled["fans"]) >= 150
	figures = {
		mode: groups["all"]
		for mode, groups in recall_quality.evaluate(recall_quality.default_weights()).items()
	}
	lexical, semantic, hybrid = figures["lexical"], figures["semantic"], figures["hybrid"]
	assert hybrid["recall_at_5"] >= lexical["recall_at_5"] + 0.10, figures
	for alone in (lexical, semantic):
		assert hybrid["recall_at_5"] >= alone["recall_at_5"] - 0.02, figures
		assert hybrid["mrr"] >= alone["mrr"] - 0.02, figures


# --- edges ------------------------------------------------------------------------------------------


def test_one_embedding_run_at_a_time(redis_client):
	say("fan-1", "creator-1", "waiting for its vector", event_id="w1")
	lease = redis_client.lock(runtime.key("embedding", "running"), timeout=30)
	assert lease.acquire(blocking=False)
	try:
		assert vectors.embed_pending() == 0
		with pytest.raises(vectors.EmbeddingBusy):
			vectors.backfill()
	finally:
		lease.release()
	assert vectors.embed_pending() == 1


def test_a_vector_never_lands_on_a_row_that_replaced_an_erased_one(db):
	say("fan-1", "creator-1", "my secret is Zanzibar", event_id="same")
	read_by_the_job = vectors._waiting(10)
	service.clear_memory("fan-1", "creator-1")
	say("fan-1", "creator-1", "a new life", event_id="same")
	vector = embedding.embed([read_by_the_job[0]["content"]])[0]
	vectors._store("fan-1", "creator-1", [(read_by_the_job[0], vector)])
	db.rollback()
	assert db.sql("select content, embedding_model from `tabInteraction`") == (("a new life", None),)
	embed_all()
	assert contents(search("starting again"))[0] == "a new life"


def test_without_a_working_model_search_ranks_by_words(history, monkeypatch):
	def broken(texts):
		raise RuntimeError("the model file is damaged")

	monkeypatch.setattr(embedding, "embed", broken)
	answer = search("Biscuit")
	assert answer["mode"] == "lexical" and contents(answer)[0] == HISTORY[0][0]


def test_an_unknown_pair_leaves_no_index_behind():
	before = recall_cache.held_messages(), len(recall_cache._held)
	assert search("anything", fan="fan-nobody")["results"] == []
	assert (recall_cache.held_messages(), len(recall_cache._held)) == before


@pytest.mark.unit
def test_old_relevant_messages_are_found_even_when_recency_weighs_everything():
	index = recall.RecallIndex(None, 1)
	long_ago = datetime(2019, 1, 1)
	index.merge(
		[
			{
				"name": "m1",
				"content": "my dog Biscuit",
				"interaction_type": "message",
				"timestamp": long_ago,
				"modified": long_ago,
				"embedding": "not base64 at all!",
				"embedding_model": embedding.MODEL_ID,
			}
		]
	)
	assert index.pending == 1  # the vector that does not decode is left out
	weights = recall.Weights(semantic=0.7, recency=1.0, half_life_days=0.5)
	hits = recall.rank(index, "Biscuit", None, datetime(2026, 1, 1).timestamp(), 5, weights)
	assert [hit["id"] for hit in hits] == ["m1"]


@pytest.mark.unit
@pytest.mark.parametrize("value", ["²", "٣", "5.0", " ", "-1"])
def test_top_k_refuses_what_is_not_a_plain_number(value):
	with pytest.raises(MemoryValidationError) as refused:
		recall.top_k(value)
	assert refused.value.field == "top_k"
