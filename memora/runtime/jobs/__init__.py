"""Background jobs: the only part of Memora that knows RQ. Services enqueue calls and read jobs
through `Job`, in Memora's own terms."""

from memora.runtime.jobs.queue import (
	JOB_RUNNER,
	QUEUES,
	enqueue,
	execute_job,
	is_queue_unavailable,
	on_job_end,
	public_id,
	queue_connection,
	queue_name,
	queue_side_key,
	queue_url,
	rq_id,
	rq_queue,
	worker_command,
)
from memora.runtime.jobs.record import Job, delete_job, fetch_job, set_flag
from memora.runtime.jobs.recovery import (
	abandoned_jobs,
	failed_jobs,
	push_back,
	requeue_job,
	stranded_jobs,
	worker_is_gone,
)
from memora.runtime.jobs.take_over import finish_jobs, return_jobs, take_queued_jobs

__all__ = [
	"JOB_RUNNER",
	"QUEUES",
	"Job",
	"abandoned_jobs",
	"delete_job",
	"enqueue",
	"execute_job",
	"failed_jobs",
	"fetch_job",
	"finish_jobs",
	"is_queue_unavailable",
	"on_job_end",
	"public_id",
	"push_back",
	"queue_connection",
	"queue_name",
	"queue_side_key",
	"queue_url",
	"requeue_job",
	"return_jobs",
	"rq_id",
	"rq_queue",
	"set_flag",
	"stranded_jobs",
	"take_queued_jobs",
	"worker_command",
	"worker_is_gone",
]
