"""Fixed-window call counters per acting identity: who calls (the signed-in user) and whom the call is for
(the player whose queue, the fan whose memory).

A backend serving many players from one address gets a budget per player, and one player's burst
spends only their own. Each window is one Lua script of INCR, EXPIRE NX and PTTL on one key: the
counter gets its expiry in the same step that creates it, so it can never outlive its window (two
separate commands could leave a counter without a TTL that locks a caller out for good), and a cluster
runs it on the key's own node. Key names hold
pseudonyms, never the ids: `rl:<scope>:<pseudonym of subject>:<pseudonym of user>`, so erasing a
person can find and delete their counters without the ids ever appearing in Redis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from memora import runtime
from memora.services import keyspace
from memora.services.pseudonym import pseudonym

KEY_FAMILY = "rl"
# KEYS: the counter; ARGV: the window in seconds. Returns {calls, milliseconds left}.
_COUNT = """
local calls = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
return {calls, redis.call('PTTL', KEYS[1])}
"""


@dataclass(frozen=True)
class Window:
	"""One counted call: the limit, the calls so far in the window (this one included) and the seconds
	until the window resets."""

	limit: int
	calls: int
	reset_seconds: int

	@property
	def allowed(self) -> bool:
		return self.calls <= self.limit

	@property
	def remaining(self) -> int:
		return max(self.limit - self.calls, 0)


def counter_key(scope: str, user: str, subject: str) -> str:
	return runtime.key(KEY_FAMILY, scope, pseudonym(subject), pseudonym(user))


def count(scope: str, user: str, subject: str, limit: int, seconds: int) -> Window:
	"""Count a call of `user` for `subject` in the current `seconds` window of `scope`."""
	calls, ttl_ms = runtime.run_script(
		runtime.redis_client(), _COUNT, [counter_key(scope, user, subject)], seconds
	)
	return Window(limit=limit, calls=int(calls), reset_seconds=max(math.ceil(ttl_ms / 1000), 1))


def forget(subject: str) -> int:
	"""Delete every counter kept for `subject` (a fan or a player), whoever called for them; returns how
	many. A SCAN of the keyspace: erasure is rare and admin-only."""
	return keyspace.unlink_matching(
		runtime.redis_client(), runtime.key(KEY_FAMILY, "*", pseudonym(subject), "*")
	)
