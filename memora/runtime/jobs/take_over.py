"""Jobs a running job takes over from its queue, to do their work together with its own.

Taking one is atomic and leaves it exactly where RQ puts a job it runs: out of the queue, in the
started registry, marked started by this worker. So a worker that dies before finishing it leaves it
to `abandoned_jobs` like any job it was running, and nothing taken is ever only in this process.
"""

from __future__ import annotations

import time
from typing import Any

from memora.runtime.jobs.queue import rq_id, rq_queue
from memora.runtime.jobs.record import Job, fetch_many, wrap

_TAKE_QUEUED = """
local taken = {}
for _, id in ipairs(redis.call('lrange', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
	if #taken >= tonumber(ARGV[2]) then break end
	if string.sub(id, 1, #ARGV[3]) == ARGV[3] and redis.call('lrem', KEYS[1], 1, id) == 1 then
		redis.call('zadd', KEYS[2], ARGV[4], id)
		redis.call('hset', ARGV[5] .. id, 'status', 'started', 'worker_name', ARGV[6],
			'started_at', ARGV[7], 'last_heartbeat', ARGV[7])
		taken[#taken + 1] = id
	end
end
return taken
"""


def take_queued_jobs(queue: str, job_id_start: str, limit: int, scan: int) -> list[Job]:
	"""Up to `limit` of the first `scan` jobs waiting on `queue` whose id (as given to `enqueue`) starts
	with `job_id_start`, taken over by the job this worker is running; empty outside a worker."""
	from rq import get_current_job
	from rq.job import Job as RQJob
	from rq.utils import utcformat, utcnow

	current = get_current_job()
	if current is None or limit < 1:
		return []
	queue_ = rq_queue(queue)
	connection = queue_.connection
	ids = connection.register_script(_TAKE_QUEUED)(
		keys=[queue_.key, queue_.started_job_registry.key],
		args=[
			scan,
			limit,
			rq_id(job_id_start),
			time.time() + (current.timeout or queue_.DEFAULT_TIMEOUT) + 60,
			RQJob.redis_job_namespace_prefix,
			current.worker_name or "",
			utcformat(utcnow()),
		],
	)
	return wrap(fetch_many([i.decode() if isinstance(i, bytes) else i for i in ids], connection))


def return_jobs(jobs: list[Job]) -> None:
	"""Give taken jobs back to the front of their queue, in their order, as if never taken."""
	if not jobs:
		return
	from rq import Queue
	from rq.job import JobStatus

	first = jobs[0].rq_job
	queue_ = Queue(first.origin, connection=first.connection)
	pipe = queue_.connection.pipeline()
	for job in jobs:
		pipe.zrem(queue_.started_job_registry.key, job.rq_job.id)
		pipe.hset(job.rq_job.key, "status", JobStatus.QUEUED)
	pipe.lpush(queue_.key, *reversed([job.rq_job.id for job in jobs]))
	pipe.execute()


def finish_jobs(outcomes: list[tuple[Job, Any]]) -> None:
	"""Record taken jobs as finished with their return values, as RQ records a job it ran."""
	if not outcomes:
		return
	from rq.defaults import DEFAULT_RESULT_TTL
	from rq.utils import utcnow

	pipe = outcomes[0][0].rq_job.connection.pipeline()
	for job, value in outcomes:
		rq_job = job.rq_job
		rq_job.ended_at, rq_job._result = utcnow(), value
		ttl = rq_job.get_result_ttl(DEFAULT_RESULT_TTL)
		rq_job._handle_success(ttl, pipeline=pipe)
		rq_job.cleanup(ttl, pipeline=pipe, remove_from_queue=False)
		rq_job.started_job_registry.remove(rq_job, pipeline=pipe)
	pipe.execute()
