"""Fan memory cache keys now hold pseudonyms: delete the entries still named by fan and creator ids."""

from memora import runtime
from memora.services.fan_memory import cache


def execute() -> None:
	runtime.log("patch.clear_text_cache_keys_deleted", keys=cache.forget_clear_text_keys())
