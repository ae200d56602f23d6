"""Fan memory at the `bench console` prompt (or any Python shell Memora is configured in).

	from memora import memory

	memory.save_interaction(
		{"fan_id": "fan-123", "creator_id": "creator-456", "type": "message", "content": "Hello!"}
	)
	memory.get_memory_context("fan-123", "creator-456")
	memory.get_memory_context("fan-123", "creator-456", query="any pets?")  # + relevant_memories
	memory.search_memories("fan-123", "creator-456", "what is the dog called", top_k=5)
	memory.get_engagement_score("fan-123", "creator-456")
	memory.get_memories_for_fans(["fan-1", "fan-2"], "creator-456")
	memory.get_memory_stats("creator-456")
	memory.clear_memory("fan-123", "creator-456")  # GDPR erase of one pair, irreversible
	memory.erase_fan("fan-123")  # GDPR erase of the fan with every creator; returns a receipt

Each function is the UserMemoryService method itself (`help(memory.save_interaction)` shows its
contract); a save or an erase commits its own transaction. Errors are MemoryServiceException with a
MemoryServiceError type.
"""

from memora.exceptions import MemoryServiceError, MemoryServiceException
from memora.services.erasure.fan import erase_fan
from memora.services.user_memory_service import UserMemoryService, get_user_memory_service

_service = get_user_memory_service()

get_memory_context = _service.get_memory_context
search_memories = _service.search_memories
get_memories_for_fans = _service.get_memories_for_fans
get_engagement_score = _service.get_engagement_score
get_memory_stats = _service.get_memory_stats
save_interaction = _service.save_interaction
clear_memory = _service.clear_memory

__all__ = [
	"MemoryServiceError",
	"MemoryServiceException",
	"UserMemoryService",
	"clear_memory",
	"erase_fan",
	"get_engagement_score",
	"get_memories_for_fans",
	"get_memory_context",
	"get_memory_stats",
	"get_user_memory_service",
	"save_interaction",
	"search_memories",
]
