app_name = "memora"
app_title = "Memora"
app_publisher = "Memora contributors"
app_description = "Spaced-repetition scheduling on Redis sorted sets and fan memory for AI personalisation"
app_email = "dev@memora.invalid"
app_license = "mit"

# Installation
# ------------

after_install = "memora.install.after_install"
after_migrate = "memora.install.after_migrate"

# Permissions
# -----------
# A player reads only their own trackers, in Desk lists and through the REST resource API.

permission_query_conditions = {
	"Player Memory Tracker": "memora.permissions.tracker_query_conditions",
}

has_permission = {
	"Player Memory Tracker": "memora.permissions.has_tracker_permission",
}

# Frappe's get_count checks no permission: Memora's DocTypes are counted as the caller may read them.
override_whitelisted_methods = {
	"frappe.client.get_count": "memora.api.counts.get_count",
}

# Redis keys
# ----------
# `frappe.clear_cache()` (bench clear-cache, every migrate) deletes every key of the site but these
# prefixes: review queues, pending reviews and review counts are data, not cache.

persistent_cache_keys = ["srs", "reconciliation", "metrics", "memory"]

# Tracker edits sync the players' review queues after each commit; an import's last ones when its
# request or job ends. Every Memora call's response gets its correlation id and rate-limit headers.

after_request = [
	"memora.api.response_headers.apply",
	"memora.memora.doctype.player_memory_tracker.player_memory_tracker.sync_queues",
]
after_job = ["memora.memora.doctype.player_memory_tracker.player_memory_tracker.sync_queues"]

# Document events
# ---------------
# Each new season gets its own partition of the tracker table (in the long queue, after the insert
# commits: partition DDL may wait for a metadata lock).

doc_events = {
	"Memora Season": {
		"after_insert": "memora.memora.doctype.memora_season.memora_season.create_season_partition",
	},
}

# Scheduled jobs
# --------------
# The *_long events run in the long queue. Each job can also be run by hand, e.g.
# `bench --site SITE execute memora.services.srs.archiver.process_auto_archive`; the `memora` CLI
# (also `bench --site SITE memora ...`) has `archive SEASON`, `flag-for-deletion` and `reconcile`.

scheduler_events = {
	# RQ 1.15 does not redeliver a job whose worker was killed; this requeues such review batches.
	# Queues MariaDB changed while Redis was unreachable are re-synced once it is back.
	"all": [
		"memora.services.srs.persistence.jobs.recover_abandoned_jobs",
		"memora.services.srs.resync_marks.recover",
		# Embeds messages whose request to the embedding job was lost (saves ask for it themselves).
		"memora.services.fan_memory.vectors.embed_pending",
	],
	"daily_long": [
		"memora.services.srs.archiver.process_auto_archive",
		"memora.services.srs.reconciliation_runs.reconcile_cache_with_database",
	],
	"weekly_long": [
		"memora.services.srs.retention.flag_eligible_for_deletion",
		# Fit FSRS parameters to each active season's review log; adopted only when they predict better.
		"memora.services.srs.fitting.fit.optimize_active_seasons",
	],
}
