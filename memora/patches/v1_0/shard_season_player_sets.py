"""A season's player set is now split into shards (`keys.SEASON_PLAYER_SHARDS`), so a big season is no
longer one hot cluster slot: move the members of each set made before the split into their shards and
delete it. Archiving, reconciliation and erasure read only the shards."""

from memora import runtime
from memora.services import keyspace
from memora.services.batches import batched
from memora.services.srs import queue_sync


def execute() -> None:
	client = runtime.redis_client()
	moved = 0
	for old in list(keyspace.matching(client, runtime.key("srs-season", "{*}", "players"))):
		season = old[len(runtime.key_prefix()) :].partition("{")[2].partition("}")[0]
		if "#" in season:  # already a shard
			continue
		for page in batched(client.sscan_iter(old, count=keyspace.SCAN_COUNT), keyspace.SCAN_COUNT):
			queue_sync.add_season_players(client, season, list(page))
			moved += len(page)
		client.delete(old)
	runtime.log("patch.season_player_sets_sharded", players=moved)
