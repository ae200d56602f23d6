"""What an upgrade must keep, on a site: `seed` writes it with the Memora installed in the bench, both
print it as JSON. Run by scripts/upgrade_check.py from the bench's sites/ folder, by path, so that the
installed Memora (old or new) is the one imported:
`python upgrade_state.py SITE seed|snapshot|persisted|recall`."""

import json
import sys
from types import SimpleNamespace

import frappe
from frappe.utils import add_to_date, now_datetime

SEASONS = ("Upgrade Past", "Upgrade Now")
PLAYERS = tuple(f"upgrade-{n}@example.com" for n in range(3))
CARDS = 5
FAN, CREATOR = "upgrade-fan", "upgrade-creator"
FAN_EVENTS = (
	{"type": "message", "content": "my golden retriever Biscuit chewed my shoes", "event_id": "u1"},
	{"type": "like", "event_id": "u2"},
	{"type": "tip", "amount": 2, "event_id": "u3"},
)


def memora_modules() -> SimpleNamespace:
	"""The services this script uses, wherever the installed Memora keeps them: in `services/srs/` since
	the package split, directly in `services/` before it."""
	from memora import runtime

	try:
		from memora.services.srs import keys, partitions, pending, rebuild, reviews

		rebuild_season_cache, rq_queue = rebuild.rebuild_season_cache, runtime.rq_queue
	except ImportError:
		from memora.services import partition_manager as partitions
		from memora.services import pending_reviews as pending
		from memora.services import srs_keys as keys
		from memora.services import srs_reviews as reviews
		from memora.services.srs_redis_manager import rebuild_season_cache

		rq_queue = runtime.job_queue
	return SimpleNamespace(
		runtime=runtime,
		keys=keys,
		partitions=partitions,
		pending=pending,
		reviews=reviews,
		rebuild_season_cache=rebuild_season_cache,
		rq_queue=rq_queue,
	)


def seed() -> None:
	"""Two seasons with partitions, trackers, warm queues, and answers accepted but not yet persisted
	(no worker runs), so their pending states and queued jobs must survive too."""
	memora = memora_modules()

	for active, season in enumerate(SEASONS):
		frappe.get_doc(
			{
				"doctype": "Memora Season",
				"season_name": season,
				"start_date": "2025-01-01",
				"end_date": "2030-12-31",
				"is_active": active,
			}
		).insert(ignore_permissions=True)
		frappe.db.commit()
		memora.partitions.create_partition(season)
		for player in PLAYERS:
			for card in range(CARDS):
				frappe.get_doc(
					{
						"doctype": "Player Memory Tracker",
						"player": player,
						"season": season,
						"question_id": f"q{card}",
						"next_review_date": add_to_date(now_datetime(), hours=-card - 1),
					}
				).insert(ignore_permissions=True, ignore_links=True)
		frappe.db.commit()
		memora.rebuild_season_cache(season)
	for player in PLAYERS:
		answer = {"question_id": "q0", "is_correct": True, "duration_ms": 3000}
		memora.reviews.submit_review_session(player, SEASONS[1], [answer])
	frappe.db.commit()
	from memora.services.user_memory_service import get_user_memory_service

	fan_memory = get_user_memory_service()
	for event in FAN_EVENTS:
		fan_memory.save_interaction({"fan_id": FAN, "creator_id": CREATOR, **event})


def snapshot() -> dict:
	memora = memora_modules()
	client = memora.runtime.redis_client()
	site = frappe.local.site
	return {
		"rows": frappe.db.sql(
			"select season, player, question_id, next_review_date, reps from `tabPlayer Memory Tracker` "
			"order by season, player, question_id",
			as_list=True,
		),
		"partitions": memora.partitions.partitions(),
		"queues": {
			f"{player} {season}": client.zrange(memora.keys.queue_key(player, season), 0, -1, withscores=True)
			for player in PLAYERS
			for season in SEASONS
		},
		"pending": {player: memora.pending.get_all(player, SEASONS[1]) for player in PLAYERS},
		"season_players": {season: season_players(client, memora.keys, season) for season in SEASONS},
		"jobs": sorted(j for j in memora.rq_queue("short").get_job_ids() if j.startswith(f"{site}::")),
		"interactions": frappe.db.sql(
			"select name, fan_id, creator_id, interaction_type, `timestamp`, content from `tabInteraction` "
			"order by name",
			as_list=True,
		),
	}


def season_players(client, keys, season: str) -> list[str]:
	"""The players listed for the season: in its shards since they were split, in one set before."""
	if hasattr(keys, "season_players_keys"):
		sets = keys.season_players_keys(season)
	else:
		sets = [keys.season_players_key(season)]
	return sorted({player for season_set in sets for player in client.smembers(season_set)})


def persisted() -> dict:
	"""How many of the answers `seed` left queued are in their tracker rows (one per player), how many
	the review log holds (it came with the upgrade: the old batches log too), and whether the log got
	the tracker table's season partitions at migrate."""
	memora = memora_modules()
	written = frappe.db.sql(
		"select count(*) from `tabPlayer Memory Tracker` where season = %s and question_id = 'q0' "
		"and last_review_id is not null",
		(SEASONS[1],),
	)[0][0]
	logged = frappe.db.sql(
		"select count(*) from `tabMemora Review Log` where season = %s and question_id = 'q0'", (SEASONS[1],)
	)[0][0]
	return {
		"persisted": written,
		"logged": logged,
		"expected": len(PLAYERS),
		"log_partitions": memora.partitions.partitions("Memora Review Log") == memora.partitions.partitions(),
	}


def recall() -> dict:
	"""After the upgrade: every setting has a value (a field the upgrade added read as 0 before
	migrate stored its default), the older rows without text are marked as having nothing to embed,
	the message is found by its words at once, and by its meaning once `recall-backfill` has run."""
	from memora import runtime
	from memora.services.fan_memory import vectors
	from memora.services.user_memory_service import get_user_memory_service

	def marks() -> dict:
		return dict(
			frappe.db.sql(
				"select coalesce(embedding_model, 'NULL'), count(*) from `tabInteraction` group by 1"
			)
		)

	search = get_user_memory_service().search_memories
	upgraded = marks()
	by_words = search(FAN, CREATOR, "Biscuit")["results"]
	backfill = vectors.backfill()
	frappe.db.commit()
	by_meaning = search(FAN, CREATOR, "does the fan have a pet?")["results"]
	return {
		"numeric settings at 0": [
			field["fieldname"]
			for field in runtime.settings_fields()
			if field["fieldtype"] in ("Int", "Float") and not runtime.settings()[field["fieldname"]]
		],
		"marked after migrate": upgraded,
		"found by its words": [hit["matched"] for hit in by_words],
		"backfill": backfill,
		"found by its meaning": [hit["matched"] for hit in by_meaning[:1]],
		"marked after backfill": marks(),
	}


def main() -> None:
	site, command = sys.argv[1], sys.argv[2]
	frappe.init(site=site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		if command == "seed":
			seed()
		result = {"persisted": persisted, "recall": recall}.get(command, snapshot)()
		print(json.dumps(result, default=str, sort_keys=True))
	finally:
		frappe.destroy()


if __name__ == "__main__":
	main()
