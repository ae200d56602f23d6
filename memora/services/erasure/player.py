"""Erasing a player across every season: tracker rows and review log rows (every partition), archived
rows, queue re-sync marks, audit rows, their review queues and pending reviews in Redis, their waiting
persistence jobs and the records of them beside the jobs, their membership of each season's player
set, and their rate-limit counters.

Rows go in one transaction that begins with the Memora Erasure row, which is what keeps a batch queued
before the erasure from writing them back (`entry`, and the guard in `persistence.write`). The Redis
keys go after the commit. Keys are found by SCAN with a pattern that matches the id in any case, as
MariaDB compares it, so every season is found, including seasons with no Memora Season row. A job a
worker already runs is left to finish and writes nothing of theirs.
"""

from __future__ import annotations

import logging

import redis

from memora import runtime
from memora.services import keyspace, rate_limits, retry, validation
from memora.services.erasure import audit, entry
from memora.services.erasure.receipt import Receipt
from memora.services.pseudonym import pseudonym
from memora.services.srs import in_flight, keys
from memora.services.srs.persistence.jobs import JOB_TARGETS
from memora.services.tables import ARCHIVED_TRACKERS, QUEUE_RESYNC, REVIEW_LOG, SEASONS, TRACKERS

# Receipt families of the Redis keys.
QUEUE_KEYS = "srs"
SEASON_SETS = "srs-season"
IN_FLIGHT = "in-flight"
JOBS = "rq-jobs"


def erase_player(player: str, requested_by: str | None = None) -> dict:
	"""GDPR erase of a player's SRS data in every season, irreversible. Returns the receipt: {erasure
	(the Memora Erasure row), subject (the player's pseudonym), rows: {doctype: count}, keys: {family:
	count}, redacted: {doctype: count}}. Logs name the player by pseudonym only."""
	player = validation.identifier(player, "player")
	subject = pseudonym(player)
	with runtime.correlation():
		erasing = retry.waited_on("srs.erase_player", "srs.erase_retry", runtime.is_transient_db_error)
		receipt, seasons = erasing(_erase_rows, player, subject, requested_by)
		try:
			_erase_keys(player, seasons, receipt)
		except redis.RedisError as e:
			runtime.log("srs.erase_player.keys_left", logging.ERROR, subject=subject, error=type(e).__name__)
			raise
		entry.set_receipt(receipt)
		runtime.db().commit()
		runtime.log("srs.player_erased", subject=subject, rows=dict(receipt.rows), keys=dict(receipt.keys))
		return receipt.as_dict()


def _erase_rows(player: str, subject: str, requested_by: str | None) -> tuple[Receipt, set[str]]:
	"""One transaction: the entry first, then every row of the player. Returns the receipt so far and
	every season the player or the site knows of."""
	database = runtime.db()
	try:
		receipt = Receipt(entry.record(entry.PLAYER, subject, player, requested_by, runtime.now()), subject)
		seasons = {row[0] for row in database.sql(f"select name from {SEASONS}")}
		for doctype, table in (
			("Player Memory Tracker", TRACKERS),
			("Memora Review Log", REVIEW_LOG),
			("Archived Memory Tracker", ARCHIVED_TRACKERS),
			("SRS Queue Resync", QUEUE_RESYNC),
		):
			seasons.update(
				row[0]
				for row in database.sql(f"select distinct season from {table} where player = %s", (player,))
			)
			database.sql(f"delete from {table} where player = %s", (player,))
			receipt.rows[doctype] += database.sql("select row_count()")[0][0]
		audit.erase("player", player, receipt)
		entry.set_receipt(receipt)
		database.commit()
	except BaseException:
		runtime.reset_db_after_error()
		raise
	return receipt, seasons


def any_case(text: str) -> str:
	"""A Redis glob that matches `text` exactly, in any letter case."""
	out = []
	for char in text:
		if char.lower() != char.upper():
			out.append(f"[{char.lower()}{char.upper()}]")
		elif char in "*?[]\\^-":
			out.append("\\" + char)
		else:
			out.append(char)
	return "".join(out)


def _drop_jobs(player: str, recorded: set[str]) -> int:
	"""Delete the player's persistence jobs that wait (queued, or failed and kept for a replay): their
	payloads name the player and carry their answers. A job already running is left to finish; the
	guard in `persistence.write` keeps it from writing anything of theirs."""
	failed = runtime.failed_jobs(runtime.settings().persistence_queue)
	recorded |= {
		job.id
		for job in failed
		if job.target in JOB_TARGETS and str(job.kwargs.get("user", "")).lower() == player.lower()
	}
	dropped = []
	for job_id in sorted(recorded):
		job = runtime.fetch_job(job_id)
		if job is not None and job.status != "started":
			runtime.delete_job(job_id)
			dropped.append(job_id)
	in_flight.forget(dropped)
	return len(dropped)


def _erase_keys(player: str, seasons: set[str], receipt: Receipt) -> None:
	"""Every key of the player in any season, their membership of the seasons' player sets, the records
	of their unwritten batches (in the queue's Redis) and their rate-limit counters."""
	client = runtime.redis_client()
	glob = any_case(player)
	queue_keys = set(keyspace.matching(client, keys.queue_key(glob, "*")))
	queue_keys.update(key for season in seasons for key in keys.player_keys(player, season))
	receipt.keys[QUEUE_KEYS] += keyspace.unlink(client, sorted(queue_keys))

	season_sets = {keys.season_player_set(season, player) for season in seasons}
	season_sets.update(keyspace.matching(client, keys.season_players_key("*", "*")))
	for season_set in sorted(season_sets):
		spellings = list(client.sscan_iter(season_set, match=any_case(player), count=keyspace.SCAN_COUNT))
		if spellings:
			receipt.keys[SEASON_SETS] += client.srem(season_set, *spellings)

	queue = runtime.queue_connection()
	records = sorted(keyspace.matching(queue, in_flight.key(glob, "*")))
	# The queue's connection answers bytes.
	recorded = {job_id.decode() for record in records for job_id in queue.smembers(record)}
	receipt.keys[JOBS] += _drop_jobs(player, recorded)
	receipt.keys[IN_FLIGHT] += keyspace.unlink(queue, records)
	receipt.keys[rate_limits.KEY_FAMILY] += rate_limits.forget(player)
