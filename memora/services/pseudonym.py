"""Pseudonyms: a keyed digest that stands for a person's id where the id itself must not appear.

Redis key names that would otherwise name a fan or a player (rate-limit counters, the fan memory cache)
and the one audit entry an erasure leaves behind hold a pseudonym instead. It is keyed with the
deployment's secret, so a list of likely ids (emails, sequential fan ids) cannot be hashed to find
whose key is whose; ids are folded to lower case first, as MariaDB compares them.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from memora import runtime

LENGTH = 32


@cache
def _key(secret: str) -> bytes:
	return hashlib.sha256(b"memora-pseudonym\0" + secret.encode()).digest()


def pseudonym(*parts: str) -> str:
	"""The digest of `parts` (case-folded), 32 hex characters; stable for the deployment's secret."""
	message = "\0".join(part.lower() for part in parts).encode()
	return hmac.new(_key(runtime.secret()), message, hashlib.sha256).hexdigest()[:LENGTH]
