"""Durable writes of accepted reviews: background jobs upsert batches of card states into MariaDB.

Contract used by the SRS engine: `queue_review_batch(states, user, season) -> job_id` hands over a
batch of card states (`card.CardState`) that are already live in Redis. The batch is written by a
job on the persistence queue, or at once if the queue cannot take it.

The package, by job: `batch` (validating what callers hand over), `statement` (the upsert), `write`
(transactions, retries, idempotency, settling pending states), `jobs` (queueing, running, taking
over, recovering jobs whose worker died), `status` (where a batch stands, failures and replays).
"""

from memora import runtime
from memora.services.srs.persistence.batch import Batch, batch_job_id, batch_of
from memora.services.srs.persistence.jobs import (
	JOB_TARGET,
	persist_safe_mode_batch,
	queue_review_batch,
	recover_abandoned_jobs,
	run_batch_job,
)
from memora.services.srs.persistence.status import (
	failed_batches,
	get_persistence_status,
	replay_failed,
)
from memora.services.srs.persistence.write import (
	OPERATION,
	PersistenceFailed,
	persist_batch,
	persist_review_batch,
	persist_single_review,
)

__all__ = [
	"JOB_TARGET",
	"OPERATION",
	"Batch",
	"PersistenceFailed",
	"SRSPersistenceService",
	"batch_job_id",
	"batch_of",
	"failed_batches",
	"get_persistence_status",
	"persist_batch",
	"persist_review_batch",
	"persist_safe_mode_batch",
	"persist_single_review",
	"queue_review_batch",
	"recover_abandoned_jobs",
	"replay_failed",
	"run_batch_job",
]


class SRSPersistenceService:
	"""The service object of the Memora service docs. The module functions do the work; they are also
	what background jobs and the scheduler call."""

	@property
	def MAX_RETRIES(self) -> int:
		return runtime.settings().max_retries

	@property
	def RETRY_DELAY_BASE(self) -> float:
		return runtime.settings().retry_delay_base

	@property
	def RETRY_DELAY_MAX(self) -> float:
		return runtime.settings().retry_delay_max

	@property
	def IDEMPOTENCY_WINDOW(self) -> int:
		return runtime.settings().idempotency_window

	def persist_review_batch(
		self, responses: list[dict], user: str, season: str, retry_count: int = 0
	) -> dict:
		return persist_review_batch(responses, user, season, retry_count)

	def persist_single_review(self, response: dict, user: str, season: str) -> bool:
		return persist_single_review(response, user, season)

	def get_persistence_status(self, job_id: str) -> dict | None:
		return get_persistence_status(job_id)
