"""Durable marks of review queues that MariaDB changed while Redis could not follow.

An answer accepted in safe mode leaves a row in SRS Queue Resync in the same transaction as the answer
itself; a tracker written while Redis was unreachable, or a persistence settle Redis refused, leaves one
right after its commit. When Redis answers again those
queues are re-synced from MariaDB before Redis serves them (the first call that finds Redis back runs
`recover`, and the scheduler runs it every few minutes for marks another process left), so a card
answered in safe mode is never served as due again, whether Redis kept its data or lost it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter

from memora import runtime
from memora.services.srs import queue_sync
from memora.services.tables import QUEUE_RESYNC

BATCH = 500
# One call does at most this many marks; the scheduler picks up the rest.
RECOVER_MAX = 20_000


def add(queues: Iterable[tuple[str, str]], reason: str) -> None:
	"""Mark (player, season) queues for a re-sync, in the caller's transaction (it commits)."""
	rows = sorted(set(queues))
	if not rows:
		return
	now = runtime.now()
	values = [(secrets.token_hex(10), now, now, player, season, reason) for player, season in rows]
	runtime.db().sql(
		f"insert into {QUEUE_RESYNC} (name, creation, modified, owner, modified_by, player, season, reason) values "
		+ ", ".join(["(%s, %s, %s, 'Administrator', 'Administrator', %s, %s, %s)"] * len(values)),
		[value for row in values for value in row],
	)


def outstanding() -> int:
	return runtime.db().sql(f"select count(*) from {QUEUE_RESYNC}")[0][0]


def recover() -> int:
	"""Re-sync every marked queue and forget its marks; returns the queues re-synced. Redis errors are
	raised (the marks stay); a queue whose rows keep changing keeps its mark for the next call."""
	done = 0
	while done < RECOVER_MAX:
		runtime.db().commit()
		marks = runtime.db().sql(
			f"select name, season, player from {QUEUE_RESYNC} order by season, player limit {BATCH}"
		)
		if not marks:
			break
		synced = set()
		for season, rows in groupby(marks, key=itemgetter(1)):
			players = sorted({player for _, _, player in rows})
			left = set(queue_sync.sync_players(season, players))
			synced |= {(season, player) for player in players if player not in left}
		names = [name for name, season, player in marks if (season, player) in synced]
		if names:
			runtime.db().sql(
				f"delete from {QUEUE_RESYNC} where name in ({', '.join(['%s'] * len(names))})", names
			)
			runtime.db().commit()
		done += len(synced)
		if len(synced) < len({(season, player) for _, season, player in marks}):
			break
	if done:
		runtime.log("srs.queues_resynced", queues=done)
	return done
