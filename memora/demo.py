"""The end-to-end demo: the services run for real on a synthetic population, then a short report.

It creates a season and a past season, loads players x questions trackers and rebuilds the season's
Redis queues, runs review sessions through the SRS services while a real worker process persists
them, injects some cache drift and reconciles it away, archives the past season, feeds fan
interactions through the fan memory service, and prints due counts, latencies, rows persisted,
corrections and one fan's memory context.

Outside a bench it runs on a throwaway database that is dropped afterwards (unless --keep). In a
site (`bench --site SITE memora demo`) it writes to the site, under names starting with `Demo <tag>`
/ `demo-<tag>-`, and keeps what it made so Desk has something to show.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from datetime import date, timedelta
from statistics import median

from memora import runtime, schema, standalone, terminal
from memora.demo_kit import Sizes, flat, percentile, take, timed, worker_process
from memora.services.srs import (
	archiver,
	keys,
	partitions,
	rebuild,
	reconciliation_runs,
	reviews,
)
from memora.services.srs.card import tracker_name
from memora.services.user_memory_service import get_user_memory_service

DAY = 86400
SUBJECTS = ("math", "science", "history", "language")
INSERT_CHUNK = 2000
DRAIN_TIMEOUT = 300


class Demo:
	"""One run: its own seasons, players and fans (names carry a random tag), and what it measured."""

	def __init__(self, sizes: Sizes, seed: int = 7) -> None:
		self.sizes = sizes
		self.random = random.Random(seed)
		self.tag = secrets.token_hex(3)
		self.season = f"Demo {self.tag}"
		self.past_season = f"Demo {self.tag} Past"
		self.creator = f"demo-{self.tag}-creator"
		self.report: dict[str, dict] = {}

	def player(self, n: int) -> str:
		return f"demo-{self.tag}-player{n}@example.com"

	def fan(self, n: int) -> str:
		return f"demo-{self.tag}-fan{n}"

	# --- seasons and population --------------------------------------------------------------

	def add_season(self, name: str, start: date, end: date, active: bool) -> None:
		now = runtime.now()
		runtime.db().sql(
			"""insert into `tabMemora Season` (name, creation, modified, modified_by, owner, season_name,
			is_active, auto_archive, start_date, end_date, archive_status)
			values (%s, %s, %s, 'Administrator', 'Administrator', %s, %s, 0, %s, %s, 'Not Archived')""",
			(name, now, now, name, int(active), start, end),
		)
		runtime.db().commit()
		partitions.create_partition(name)

	def create_seasons(self) -> None:
		today = runtime.now().date()
		no_active_season = not runtime.db().sql("select 1 from `tabMemora Season` where is_active = 1")
		self.add_season(self.past_season, today - timedelta(days=400), today - timedelta(days=35), False)
		self.add_season(
			self.season, today - timedelta(days=30), today + timedelta(days=335), no_active_season
		)

	def tracker_row(self, player: str, season: str, question: int, now: float) -> tuple:
		"""A card reviewed a few times already; about a third of them due now."""
		due_in = self.random.uniform(-3, 0) if self.random.random() < 0.33 else self.random.uniform(0.1, 20)
		reviewed = now - self.random.uniform(1, 20) * DAY
		question_id = f"q-{question:04d}"
		return (
			tracker_name(player, season, question_id),
			runtime.from_ts(reviewed),
			runtime.from_ts(reviewed),
			player,
			season,
			question_id,
			SUBJECTS[question % len(SUBJECTS)],
			f"topic-{question % 10}",
			round(self.random.uniform(0.5, 30), 4),
			round(self.random.uniform(1, 10), 4),
			"Review",
			self.random.randint(1, 6),
			self.random.randint(0, 2),
			3,
			runtime.from_ts(reviewed),
			runtime.from_ts(now + due_in * DAY),
		)

	def load_trackers(self, season: str, players: int, questions: int) -> int:
		"""Bulk-load a season's history (what earlier seasons of reviews would have left behind)."""
		columns = (
			"name, creation, modified, player, season, question_id, subject, topic, stability, difficulty, "
			"state, reps, lapses, last_rating, last_review_date, next_review_date"
		)
		insert = f"insert into `{schema.table_name('Player Memory Tracker')}` ({columns}) values "
		total, now = players * questions, runtime.now_ts()
		cards = ((p, q) for p in range(players) for q in range(questions))
		database, done = runtime.db(), 0
		with terminal.progress_bar(f"Loading {season}: {players:,} players x {questions}") as update:
			while chunk := [
				self.tracker_row(self.player(p), season, q, now) for p, q in take(cards, INSERT_CHUNK)
			]:
				database.sql(
					insert + ", ".join(["(" + ", ".join(["%s"] * 16) + ")"] * len(chunk)), flat(chunk)
				)
				database.commit()
				done += len(chunk)
				update(done, total)
		return total

	def rebuild_cache(self) -> dict:
		with terminal.progress_bar(f"Rebuilding the Redis queues of {self.season}") as update:
			return rebuild.rebuild_season_cache(self.season, progress=update)

	def keys_per_primary(self) -> str:
		"""The demo's keys on each primary of a Redis Cluster: players spread over every one."""
		client = runtime.redis_client()
		if not runtime.is_cluster(client):
			return "one Redis"
		pattern = runtime.key_prefix() + "*"
		counts = [
			sum(1 for _ in client.scan_iter(match=pattern, count=1000, target_nodes=node))
			for node in client.get_primaries()
		]
		return " / ".join(f"{count:,}" for count in counts)

	def due_now(self) -> int:
		"""Cards due now across the season's players, from their Redis queues."""
		client, now = runtime.redis_client(), runtime.now_ts()
		pipe = client.pipeline(transaction=False)
		for n in range(self.sizes.players):
			pipe.zcount(keys.queue_key(self.player(n), self.season), "-inf", now)
		return sum(pipe.execute())

	# --- review sessions and persistence -------------------------------------------------------

	def answer(self, question_id: str) -> dict:
		return {
			"question_id": question_id,
			"is_correct": self.random.random() < 0.75,
			"duration_ms": int(self.random.lognormvariate(8.0, 0.6)),
		}

	def run_sessions(self) -> tuple[list[str], list[float], list[float], int]:
		"""Review sessions of randomly chosen players; returns job ids, the two latency lists, answers."""
		players = self.random.sample(range(self.sizes.players), self.sizes.sessions)
		jobs, get_ms, submit_ms, answers = [], [], [], 0
		with terminal.progress_bar("Review sessions", len(players)) as update:
			for done, n in enumerate(players, 1):
				user = self.player(n)
				session, ms = timed(reviews.get_review_session, user, self.season, limit=self.sizes.answers)
				get_ms.append(ms)
				if session["questions"]:
					responses = [self.answer(q) for q in session["questions"]]
					result, ms = timed(reviews.submit_review_session, user, self.season, responses)
					submit_ms.append(ms)
					jobs.append(result["persistence_job_id"])
					answers += result["accepted"]
				update(done, len(players))
		return jobs, get_ms, submit_ms, answers

	def wait_for_jobs(self, job_ids: list[str]) -> tuple[int, int, float]:
		"""(finished, failed, seconds) once every persistence job has ended."""
		start, waiting = time.monotonic(), set(job_ids)
		finished = failed = 0
		with terminal.progress_bar("Persisting reviews (worker)", len(job_ids)) as update:
			while waiting and time.monotonic() - start < DRAIN_TIMEOUT:
				for job_id in list(waiting):
					job = runtime.fetch_job(job_id)
					status = job.status if job else "finished"
					if status in ("finished", "failed"):
						waiting.discard(job_id)
						finished += status == "finished"
						failed += status == "failed"
				update(len(job_ids) - len(waiting), len(job_ids))
				if waiting:
					time.sleep(0.2)
		return finished, failed + len(waiting), time.monotonic() - start

	def rows_persisted(self) -> int:
		"""Trackers of the season the worker wrote (the loaded history has no review id)."""
		runtime.db().commit()  # a new snapshot: the worker committed after this connection's last read
		return runtime.db().sql(
			"select count(*) from `tabPlayer Memory Tracker` where season = %s and last_review_id is not null",
			(self.season,),
		)[0][0]

	# --- drift and reconciliation --------------------------------------------------------------

	def inject_drift(self) -> dict[str, int]:
		"""Break some players' queues the ways reconciliation repairs: cards missing, ghost cards,
		stale scores. Returns how many of each."""
		client = runtime.redis_client()
		injected = {"missing": 0, "ghost": 0, "stale": 0}
		for n in self.random.sample(range(self.sizes.players), self.sizes.drifted_players):
			queue_key = keys.queue_key(self.player(n), self.season)
			members = client.zrange(queue_key, 0, 2)
			if len(members) < 3:
				continue
			pipe = client.pipeline()
			pipe.zrem(queue_key, members[0])
			pipe.zadd(queue_key, {f"ghost-{self.tag}-{n}": runtime.now_ts()})
			pipe.zincrby(queue_key, 7 * DAY, members[1])
			pipe.execute()
			for kind in injected:
				injected[kind] += 1
		return injected

	def reconcile(self) -> dict:
		with terminal.progress_bar(f"Reconciling {self.season}") as update:
			return reconciliation_runs.reconcile_cache_with_database(season=self.season, progress=update)

	# --- archive ------------------------------------------------------------------------------

	def archive_past_season(self) -> dict:
		with terminal.progress_bar(f"Archiving {self.past_season}") as update:
			return archiver.archive_season(self.past_season, progress=update)

	# --- fan memory ---------------------------------------------------------------------------

	MESSAGES = (
		"I love your new set, the lighting is amazing!",
		"When is the next live stream?",
		"Honestly this week's post was a bit disappointing.",
		"haha that was so funny 😂",
		"Can you do more cooking content? I'd pay for that.",
		"Thanks for replying, made my day!",
	)

	def interaction(self, fan: str, when: float) -> dict:
		kind = self.random.choices(("message", "like", "view", "purchase", "tip"), (5, 3, 3, 1, 1))[0]
		event = {"fan_id": fan, "creator_id": self.creator, "type": kind, "timestamp": runtime.from_ts(when)}
		if kind == "message":
			event["content"] = self.random.choice(self.MESSAGES)
		if kind in ("purchase", "tip"):
			event["amount"] = round(self.random.uniform(3, 40), 2)
			event["metadata"] = {"category": self.random.choice(("photos", "video", "cooking", "live"))}
		return event

	def load_fans(self) -> list[float]:
		service = get_user_memory_service()
		total = self.sizes.fans * self.sizes.interactions
		save_ms, now = [], runtime.now_ts()
		with terminal.progress_bar(
			f"Fan interactions through the memory service ({self.sizes.fans} fans)", total
		) as update:
			for f in range(self.sizes.fans):
				times = sorted(now - self.random.uniform(0, 60) * DAY for _ in range(self.sizes.interactions))
				for when in times:
					_, ms = timed(service.save_interaction, self.interaction(self.fan(f), when))
					save_ms.append(ms)
					update(len(save_ms), total)
		return save_ms

	def memory_context(self) -> tuple[dict, float, float]:
		"""One fan's context, uncached then cached, with both latencies."""
		service = get_user_memory_service()
		context, first_ms = timed(service.get_memory_context, self.fan(0), self.creator)
		_, cached_ms = timed(service.get_memory_context, self.fan(0), self.creator)
		return context, first_ms, cached_ms

	# --- the whole run ------------------------------------------------------------------------

	def run(self) -> None:
		sizes = self.sizes
		terminal.console.rule(f"[bold]Memora demo[/bold] · seasons {self.season!r} and {self.past_season!r}")
		self.create_seasons()
		live = self.load_trackers(self.season, sizes.players, sizes.questions)
		past = self.load_trackers(self.past_season, sizes.past_players, sizes.past_questions)
		rebuild = self.rebuild_cache()
		self.report["Population"] = {
			"trackers_in_season": live,
			"trackers_in_past_season": past,
			"players": sizes.players,
			"queues_rebuilt": rebuild["total_keys"],
			"redis_keys_per_primary": self.keys_per_primary(),
		}

		due_before = self.due_now()
		with worker_process():
			jobs, get_ms, submit_ms, answers = self.run_sessions()
			finished, failed, drain_s = self.wait_for_jobs(jobs)
		self.report["Reviews"] = {
			"due_now_before": due_before,
			"sessions": len(get_ms),
			"answers_accepted": answers,
			"due_now_after": self.due_now(),
			"get_review_session_p50_ms": median(get_ms),
			"get_review_session_p99_ms": percentile(get_ms, 99),
			"submit_review_session_p50_ms": median(submit_ms) if submit_ms else 0,
			"submit_review_session_p99_ms": percentile(submit_ms, 99),
		}
		self.report["Persistence"] = {
			"jobs": len(jobs),
			"jobs_finished": finished,
			"jobs_failed": failed,
			"rows_persisted": self.rows_persisted(),
			"queue_drained_after_s": drain_s,
		}

		injected = self.inject_drift()
		reconciled = self.reconcile()
		self.report["Reconciliation"] = {
			**{f"injected_{kind}": n for kind, n in injected.items()},
			**{f"corrected_{kind}": n for kind, n in reconciled["corrections"].items()},
			"players_checked": reconciled["players_checked"],
			"items_checked": reconciled["items_checked"],
			"discrepancy_rate_%": reconciled["discrepancy_rate"],
			"alerted": ", ".join(reconciled["alerted_seasons"]) or "no",
			"duration_s": reconciled["duration_s"],
		}

		archived = self.archive_past_season()
		self.report["Archive"] = archived

		save_ms = self.load_fans()
		context, first_ms, cached_ms = self.memory_context()
		self.report["Fan memory"] = {
			"fans": sizes.fans,
			"interactions_saved": len(save_ms),
			"save_interaction_p50_ms": median(save_ms),
			"get_memory_context_first_ms": first_ms,
			"get_memory_context_cached_ms": cached_ms,
		}
		self.print_report(context)

	def print_report(self, context: dict) -> None:
		terminal.console.rule("[bold]Report")
		for title, values in self.report.items():
			terminal.summary(title, values)
		metrics = context["engagement_metrics"]
		emotion = context["emotional_state"]
		preferences = context["preferences"]
		personality = context["personality_profile"]
		terminal.summary(
			f"Memory context of {context['fan_id']} (creator {context['creator_id']})",
			{
				"recent_messages": len(context["recent_messages"]),
				"engagement_score": metrics["engagement_score"],
				"interactions": metrics["total_interactions"],
				"total_spent": metrics["total_spent"],
				"emotional_state": f"{emotion['label']} ({emotion['trend']})",
				"top_purchases": ", ".join(item["name"] for item in preferences["purchases"][:3]) or "-",
				"top_topics": ", ".join(item["name"] for item in preferences["topics"][:5]) or "-",
				"communication_style": personality["communication_style"],
				"profile_confidence": personality["confidence"],
				"last_interaction": context["last_interaction"],
			},
		)


def run_demo(scale: float = 1.0, keep: bool = False) -> None:
	"""The demo in the connected site, or outside a bench on a throwaway database (the process's
	MEMORA_DB_NAME is restored afterwards)."""
	demo = Demo(Sizes.scaled(scale))
	if runtime.in_site():
		demo.run()
		runtime.db().commit()
		return
	name, previous = standalone.throwaway_name("demo"), os.environ.get("MEMORA_DB_NAME")
	terminal.console.print(f"Throwaway database [cyan]{name}[/cyan], Redis at {runtime.redis_url()}")
	standalone.create_database(name)
	try:
		demo.run()
	finally:
		if keep:
			terminal.console.print(f"Kept database {name}: MEMORA_DB_NAME={name} memora stats")
		else:
			standalone.drop_database(name)
		if previous is None:
			os.environ.pop("MEMORA_DB_NAME", None)
		else:
			os.environ["MEMORA_DB_NAME"] = previous
