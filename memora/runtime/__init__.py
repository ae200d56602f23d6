"""The seam between Memora's services and the outside world.

Inside a Frappe site every call goes to Frappe (`frappe.db`, the site's Redis, `frappe.enqueue`,
`frappe.logger`, Memora Settings); outside a site the same calls go to PyMySQL, redis-py and RQ,
configured from environment variables. Services import this package and never `frappe` itself, so
the code that runs in a bench is the code the standalone suite tests.

One module per job, each with its Frappe and standalone halves side by side: `site` (where we run),
`database`, `kv` (the data Redis), `jobs` (RQ, and nothing else knows it), `config` (settings),
`logs`, `clock`, and `breaker` (safe mode's circuit breaker). The names below are what services use;
`memora.runtime.execute_job` is also the dotted path stored in every queued job.

Environment (standalone only): MEMORA_DB_HOST, MEMORA_DB_PORT, MEMORA_DB_USER, MEMORA_DB_PASSWORD,
MEMORA_DB_NAME, MEMORA_REDIS_URL, MEMORA_QUEUE_URL, MEMORA_TIME_ZONE, MEMORA_SECRET, and
MEMORA_<SETTING> for any Memora Settings field.
"""

from memora.runtime.clock import from_ts, now, now_ts, system_timezone, to_ts
from memora.runtime.config import (
	Settings,
	forget_settings,
	override_settings,
	settings,
	settings_fields,
)
from memora.runtime.database import (
	database_name,
	db,
	db_config,
	is_db_error,
	is_duplicate_entry,
	is_lock_wait_timeout,
	is_statement_timeout,
	is_transient_db_error,
	reset_db_after_error,
)
from memora.runtime.jobs import (
	QUEUES,
	Job,
	abandoned_jobs,
	delete_job,
	enqueue,
	execute_job,
	failed_jobs,
	fetch_job,
	finish_jobs,
	is_queue_unavailable,
	on_job_end,
	push_back,
	queue_connection,
	queue_name,
	queue_side_key,
	queue_url,
	requeue_job,
	return_jobs,
	rq_queue,
	set_flag,
	stranded_jobs,
	take_queued_jobs,
	worker_command,
)
from memora.runtime.kv import key, key_prefix, redis_client, redis_url
from memora.runtime.logs import (
	alert,
	correlation,
	correlation_id,
	log,
	log_error,
	new_correlation_id,
	publish_progress,
)
from memora.runtime.site import APP_ROOT, DOCTYPE_ROOT, in_site, secret

__all__ = [
	"APP_ROOT",
	"DOCTYPE_ROOT",
	"QUEUES",
	"Job",
	"Settings",
	"abandoned_jobs",
	"alert",
	"correlation",
	"correlation_id",
	"database_name",
	"db",
	"db_config",
	"delete_job",
	"enqueue",
	"execute_job",
	"failed_jobs",
	"fetch_job",
	"finish_jobs",
	"forget_settings",
	"from_ts",
	"in_site",
	"is_db_error",
	"is_duplicate_entry",
	"is_lock_wait_timeout",
	"is_queue_unavailable",
	"is_statement_timeout",
	"is_transient_db_error",
	"key",
	"key_prefix",
	"log",
	"log_error",
	"new_correlation_id",
	"now",
	"now_ts",
	"on_job_end",
	"override_settings",
	"publish_progress",
	"push_back",
	"queue_connection",
	"queue_name",
	"queue_side_key",
	"queue_url",
	"redis_client",
	"redis_url",
	"requeue_job",
	"reset_db_after_error",
	"return_jobs",
	"rq_queue",
	"secret",
	"set_flag",
	"settings",
	"settings_fields",
	"stranded_jobs",
	"system_timezone",
	"take_queued_jobs",
	"to_ts",
	"worker_command",
]
